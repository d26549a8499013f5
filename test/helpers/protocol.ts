import { defineProtocol, message, t } from '../../src/index.js';

export const Chat = message('Chat', { from: t.u32, text: t.string(200) });
export const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
export const State = message('State', { tick: t.u32, x: t.f32, y: t.f32 });
export const Ping = message('Ping', { seq: t.u32 });

/** The test messages, and every channel mode once plus a server-to-client state channel. */
export const testMessagesAndChannels = {
  messages: [Chat, Input, State, Ping],
  channels: {
    chat: { mode: 'ordered-reliable' },
    input: { mode: 'tick-buffered' },
    state: { mode: 'unreliable', direction: 'server-to-client' },
    seqUnreliable: { mode: 'sequenced-unreliable' },
    unordered: { mode: 'unordered-reliable' },
    seqReliable: { mode: 'sequenced-reliable' },
  },
} as const;

/** Every channel mode once, plus a server-to-client state channel. */
export const protocol = defineProtocol({ tickRate: 50, ...testMessagesAndChannels });

export type ChannelName = (typeof protocol.channels)[number]['name'];

/** A protocol that differs from {@link protocol} only in its tick rate. */
export const otherProtocol = defineProtocol({ tickRate: 30, ...testMessagesAndChannels });
