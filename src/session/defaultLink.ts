import { LinkConnection } from '../link/index.js';
import type { LinkFactory, LinkLike } from './linkTypes.js';

/** Builds a real `LinkConnection` (the only place the session layer names the link class). */
export const defaultLinkFactory: LinkFactory = (args) =>
  new LinkConnection({
    channels: args.channels,
    role: args.role,
    send: args.send,
    clock: args.clock,
    options: args.options,
  }) as LinkLike;
