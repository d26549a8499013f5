import { describe, expect, it } from 'vitest';
import { component, DecodeError, message, t } from '../serde/index.js';
import { fnv1a64 } from './hash.js';
import { defineProtocol } from './Protocol.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Chat = message('Chat', { text: t.string(200) });
const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });

const base = () => ({
  tickRate: 20,
  components: [Position],
  messages: [Chat, Input],
  channels: { chat: { mode: 'ordered-reliable' as const }, input: { mode: 'tick-buffered' as const } },
});

describe('fnv1a64', () => {
  it('matches the published test vectors', () => {
    expect(fnv1a64(new Uint8Array())).toBe(0xcbf29ce484222325n);
    expect(fnv1a64(new TextEncoder().encode('a'))).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64(new TextEncoder().encode('foobar'))).toBe(0x85944171f73967e8n);
  });
});

describe('defineProtocol', () => {
  it('indexes channels and messages', () => {
    const p = defineProtocol(base());
    expect(p.channel('chat')).toMatchObject({
      index: 0,
      linkChannel: 2,
      mode: 'ordered-reliable',
      direction: 'both',
    });
    expect(p.channel('input')).toMatchObject({ index: 1, linkChannel: 3, direction: 'client-to-server' });
    expect(p.messageKind(Chat)).toBe(0);
    expect(p.messageKind(Input)).toBe(1);
    expect(() => p.messageKind(message('Other', {}))).toThrow(/not registered/);
  });

  it('hashes equal definitions equally and differing ones differently', () => {
    const a = defineProtocol(base());
    const b = defineProtocol(base());
    expect(a.hash).toBe(b.hash);
    expect(a.hashHex).toMatch(/^[0-9a-f]{16}$/);
    const variants = [
      { ...base(), tickRate: 30 },
      { ...base(), messages: [Input, Chat] },
      { ...base(), messages: [Chat, message('Input', { seq: t.u16, dx: t.i8, dy: t.i8 })] },
      { ...base(), components: [] },
      {
        ...base(),
        channels: { chat: { mode: 'unordered-reliable' as const }, input: base().channels.input },
      },
      { ...base(), clientAuthoritativeEntities: true },
    ];
    const hashes = new Set(variants.map((v) => defineProtocol(v as ReturnType<typeof base>).hash));
    expect(hashes.size).toBe(variants.length);
    expect(hashes.has(a.hash)).toBe(false);
  });

  it('priority does not change the hash', () => {
    const p = defineProtocol({
      ...base(),
      channels: { ...base().channels, chat: { mode: 'ordered-reliable', priority: 5 } },
    });
    expect(p.hash).toBe(defineProtocol(base()).hash);
  });

  it('round-trips messages and rejects malformed ones with DecodeError', () => {
    const p = defineProtocol(base());
    const bytes = p.encodeMessage(Input, { seq: 7, dx: -1, dy: 2 });
    expect([...bytes]).toEqual([1, 7, 0, 0, 0, 0xff, 2]);
    expect(p.decodeMessage(bytes)).toMatchObject({ def: Input, value: { seq: 7, dx: -1, dy: 2 } });
    expect(() => p.decodeMessage(Uint8Array.of(9))).toThrow(DecodeError);
    expect(() => p.decodeMessage(bytes.subarray(0, 3))).toThrow(DecodeError);
    expect(() => p.decodeMessage(Uint8Array.of(...bytes, 0))).toThrow(DecodeError);
  });

  it('rejects invalid definitions', () => {
    expect(() => defineProtocol({ ...base(), tickRate: 0 })).toThrow();
    expect(() => defineProtocol({ ...base(), messages: [Chat, Chat] })).toThrow(/duplicate/);
    expect(() =>
      defineProtocol({
        ...base(),
        channels: { x: { mode: 'tick-buffered', direction: 'server-to-client' } },
      }),
    ).toThrow(/client-to-server/);
  });
});
