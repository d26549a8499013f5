import type { Entity } from './Entity.js';
import type { SpatialGrid } from './SpatialGrid.js';

/**
 * A coarse scope gate: a user sees an entity only if they share at least one room (then
 * include/exclude and the view radius refine it). Rooms are created by {@link ServerWorld.createRoom}.
 */
export class Room<K = unknown> {
  readonly users = new Set<K>();
  readonly entities = new Set<Entity>();
  /** @internal set by the world so a destroyed room stops counting */
  destroyed = false;
  /** @internal the world's spatial index of this room (built once a user with a view radius is in it). */
  grid: SpatialGrid | null = null;
  /** @internal entities of this room whose position changed this step (kept only with a grid). */
  readonly moved: Entity[] = [];

  constructor(
    readonly id: number,
    private readonly hooks: {
      userJoined(room: Room<K>, key: K): void;
      userLeft(room: Room<K>, key: K): void;
      entityAdded(room: Room<K>, e: Entity): void;
      entityRemoved(room: Room<K>, e: Entity): void;
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
    if (!this.destroyed && e.alive && !this.entities.has(e)) {
      this.entities.add(e);
      if (!e.rooms) e.rooms = new Set();
      e.rooms.add(this);
      this.hooks.entityAdded(this, e);
    }
    return this;
  }

  removeEntity(e: Entity): this {
    e.rooms?.delete(this);
    if (this.entities.delete(e)) this.hooks.entityRemoved(this, e);
    return this;
  }

  hasUser(key: K): boolean {
    return this.users.has(key);
  }

  hasEntity(e: Entity): boolean {
    return this.entities.has(e);
  }
}
