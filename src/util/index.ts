/** Shared primitives below layer 0 (no dependencies, browser-safe). */
export { type Clock, ManualClock, systemClock } from './Clock.js';
export { SeededRandom } from './SeededRandom.js';
export { type EventMap, TypedEmitter } from './TypedEmitter.js';
