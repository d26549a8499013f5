/**
 * The protocol of the migration demo, shared by its backends, its bots and the demo page (which
 * bundles this file: it imports the library only through the client bundle's entry).
 */
import { component, defineProtocol, message, t } from '../../client/browser.js';

/** A player's avatar position, world units. */
export const Position = component('Position', { x: t.f32, y: t.f32 });
/** One step of a player: numbered so the backends can count what arrived, once and in order. */
export const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
export const protocol = defineProtocol({
  tickRate: 20,
  components: [Position],
  messages: [Input],
  channels: { input: { mode: 'ordered-reliable', direction: 'client-to-server' } },
});
