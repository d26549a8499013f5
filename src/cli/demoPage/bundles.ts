/**
 * The browser bundles the package ships, built by esbuild from the TypeScript sources into
 * `dist/browser/`: `baton-client.js`, the client library as one ES module (the package export
 * `baton/client/browser`), and `demo-page.js`, the script of the demo's page. `npm run build` writes them; the demo's page server builds them in
 * memory when it runs from the sources. esbuild is a build-time dependency only: it is
 * imported here on demand, never by the published runtime.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the package (this file is `src/cli/demoPage/` or `dist/cli/demoPage/`). */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the built bundles live. */
export const bundleDir = resolve(packageRoot, 'dist/browser');

/** File name of the client bundle, in `dist/browser/` and at the page server's root URL. */
export const CLIENT_BUNDLE = 'baton-client.js';
/** File name of the demo page's script (it imports the client bundle). */
export const DEMO_PAGE_BUNDLE = 'demo-page.js';

/** One built bundle: its file name, its JavaScript and its source map. */
export interface BuiltBundle {
  readonly name: string;
  readonly text: string;
  readonly map: string;
}

/** The bundles: file name in `dist/browser/` → entry source, relative to the package root. */
export const BROWSER_BUNDLES: Readonly<Record<string, string>> = {
  [CLIENT_BUNDLE]: 'src/client/browser.ts',
  [DEMO_PAGE_BUNDLE]: 'src/cli/demoPage/page/main.ts',
};

/**
 * Builds every bundle; with `write`, also into `dist/browser/`. Needs the sources (`src/`)
 * and esbuild, i.e. a development checkout.
 */
export async function buildBrowserBundles(write = false): Promise<BuiltBundle[]> {
  const { build } = await import('esbuild');
  const out: BuiltBundle[] = [];
  for (const [file, entry] of Object.entries(BROWSER_BUNDLES)) {
    const result = await build({
      entryPoints: { [file.replace(/\.js$/, '')]: resolve(packageRoot, entry) },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      sourcemap: 'linked',
      write: false,
      outdir: bundleDir,
      logLevel: 'warning',
      plugins: [
        {
          // other bundles import the client library from the client bundle served beside them,
          // so a page holds one copy of it (and one set of classes for `instanceof`)
          name: 'client-bundle-external',
          setup(b) {
            b.onResolve({ filter: /client\/browser\.js$/ }, (args) =>
              file === CLIENT_BUNDLE && args.kind === 'entry-point'
                ? undefined
                : { path: `./${CLIENT_BUNDLE}`, external: true },
            );
          },
        },
      ],
    });
    const js = result.outputFiles.find((f) => f.path.endsWith('.js'))!;
    const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'))!;
    out.push({ name: file, text: js.text, map: map.text });
  }
  if (write) {
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(bundleDir, { recursive: true });
    for (const b of out) {
      await writeFile(resolve(bundleDir, b.name), b.text);
      await writeFile(resolve(bundleDir, `${b.name}.map`), b.map);
    }
  }
  return out;
}
