/**
 * The game's protocol: shared by the backend, the clients and the proxy (the proxy's config
 * names this module). Inputs go up on a reliable ordered channel; each backend acknowledges
 * every input it processed, so a client can count what was lost.
 */
import { component, defineProtocol, message, t } from 'baton-net';

export const Position = component('Position', { x: t.f32, y: t.f32 });
export const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
export const Processed = message('Processed', { seq: t.u32, backend: t.string(64) });

export const protocol = defineProtocol({
  tickRate: 20,
  components: [Position],
  messages: [Input, Processed],
  channels: {
    input: { mode: 'ordered-reliable', direction: 'client-to-server' },
    acks: { mode: 'ordered-reliable', direction: 'server-to-client' },
  },
});
