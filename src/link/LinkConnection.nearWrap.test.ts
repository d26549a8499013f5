import { describe, it } from 'vitest';
import { sendEveryModeAcrossTheWrap } from './testing/allModesWrap.js';

// The same checks as the > 65 536-message wrap test, with every channel's ids started just
// before the wrap: fast enough for mutation runs, which cannot afford 70 000 steps per mutant.
describe('16-bit message id wrap, started near it', () => {
  it('every channel mode keeps its guarantee across the wrap', () => {
    sendEveryModeAcrossTheWrap(3000, 65_536 - 1000);
  });
});
