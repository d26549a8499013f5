/** `npm run build` runs this (compiled) after `tsc`: writes the browser bundles to `dist/browser/`. */
import { buildBrowserBundles } from './bundles.js';

const built = await buildBrowserBundles(true);
for (const b of built) console.log(`dist/browser/${b.name}: ${(b.text.length / 1024).toFixed(1)} KiB`);
