import { describe, expect, it } from 'vitest';
import { AdminServer, isLoopbackHost } from './admin.js';

describe('admin endpoint helpers', () => {
  it('knows loopback addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.2',
      'example.com',
      '128.0.0.1',
      'localhost.evil.example',
    ])
      expect(isLoopbackHost(h)).toBe(false);
  });

  it('refuses a configured token too short to be a secret', () => {
    const target = {
      sessions: () => [],
      stats: {} as never,
      migrate: async () => ({}) as never,
      drain: async () => ({}) as never,
      metrics: { text: async () => '', contentType: 'text/plain' },
    };
    const context = { registry: { list: async () => [] }, log: () => {} };
    expect(() => new AdminServer(target, { port: 0, token: 'short' }, context)).toThrow(/16 characters/);
    expect(() => new AdminServer(target, { port: 0, token: 'x'.repeat(16) }, context)).not.toThrow();
  });
});
