/**
 * The demo world's map, shared by the page server and the page: a rectangle split into one
 * vertical band per backend, left to right in the order the demo lists them. A visitor whose
 * avatar stands in a band is played by that band's backend.
 */

/** Half the world's width and height, world units; (0, 0) is the centre. */
export const WORLD = { halfWidth: 100, halfHeight: 50 } as const;

/** The band (0 = leftmost) that `x` lies in, among `bands` bands; outside the world clamps. */
export function regionIndex(x: number, bands: number): number {
  const width = (2 * WORLD.halfWidth) / bands;
  return Math.min(bands - 1, Math.max(0, Math.floor((x + WORLD.halfWidth) / width)));
}

/** The left and right edges of band `index` among `bands`. */
export function regionBounds(index: number, bands: number): { left: number; right: number } {
  const width = (2 * WORLD.halfWidth) / bands;
  return { left: -WORLD.halfWidth + index * width, right: -WORLD.halfWidth + (index + 1) * width };
}

/** Usernames of page visitors start with this (the page server steers only them). */
export const VISITOR_PREFIX = 'visitor-';

/** What the page server sends the page, about ten times a second. */
export interface DemoSnapshot {
  /** The backends, left to right, with the players the proxy has on each. */
  readonly backends: readonly { readonly id: string; readonly players: number }[];
  readonly players: readonly {
    readonly name: string;
    readonly backend: string;
    readonly x: number;
    readonly y: number;
    readonly visitor: boolean;
    readonly migrating: boolean;
  }[];
  /** The proxy's seamless migration counters. */
  readonly migrations: {
    readonly completed: number;
    readonly failed: number;
    readonly inFlight: number;
    readonly freezeP50: number;
    readonly freezeP99: number;
  };
  /** The bots' inputs: sent, and processed by the backends (the difference is in flight or lost). */
  readonly bots: { readonly sent: number; readonly processed: number };
  /** Inputs processed by the backends per visitor uuid (the page compares with what it sent). */
  readonly visitors: Readonly<Record<string, number>>;
  /** Migrations that finished since the previous snapshot. */
  readonly events: readonly DemoMigrationEvent[];
}

/** One finished migration, as the page draws it. */
export interface DemoMigrationEvent {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly ok: boolean;
  readonly freezeMs?: number;
  readonly reason?: string;
}
