import type { Entity } from './Entity.js';

/**
 * A coarse scope gate: a user sees an entity only if they share at least one room (then
 * include/exclude and the view radius refine it). Rooms are created by {@link ServerWorld.createRoom}.
 */
export class Room<K = unknown> {
  readonly users = new Set<K>();
  readonly entities = new Set<Entity>();
  /** @internal set by the world so a destroyed room stops counting */
  destroyed = false;

  constructor(
    readonly id: number,
    private readonly hooks: {
      userJoined(room: Room<K>, key: K): void;
      userLeft(room: Room<K>, key: K): void;
      changed(): void;
    },
  ) {}

  addUser(key: K): this {
    if (!this.destroyed && !this.users.has(key)) {
      this.users.add(key);
      this.hooks.userJoined(this, key);
    }
    return this;
  }

  removeUser(key: K): this {
    if (this.users.delete(key)) this.hooks.userLeft(this, key);
    return this;
  }

  addEntity(e: Entity): this {
    if (!this.destroyed && e.alive) {
      this.entities.add(e);
      if (!e.rooms) e.rooms = new Set();
      e.rooms.add(this);
      this.hooks.changed();
    }
    return this;
  }

  removeEntity(e: Entity): this {
    if (this.entities.delete(e)) this.hooks.changed();
    e.rooms?.delete(this);
    return this;
  }

  hasUser(key: K): boolean {
    return this.users.has(key);
  }

  hasEntity(e: Entity): boolean {
    return this.entities.has(e);
  }
}
