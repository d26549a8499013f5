/**
 * baton: TypeScript multiplayer networking. The root entry holds what server and client code
 * share: protocol definitions, their types, and the entity handle. Browser-safe. The APIs live in `baton/server`
 * and `baton/client`.
 */
export {
  type ComponentDef,
  component,
  DecodeError,
  type Infer,
  type MessageDef,
  message,
  type PropType,
  type Schema,
  t,
  type ValueOf,
} from './serde/index.js';
export { ConnectError, type ConnectErrorKind } from './session/ConnectError.js';
export {
  type ChannelDirection,
  type ChannelInfo,
  type ChannelMode,
  type ChannelSpec,
  defineProtocol,
  Protocol,
  type ProtocolConfig,
} from './session/Protocol.js';
export { RejectCode } from './session/packets/kinds.js';
export type { SessionPipe, WorldFramePipe } from './session/SessionPipe.js';
export { type Clock, ManualClock, systemClock } from './util/Clock.js';
export type { AnyComponentDef } from './world/ComponentRegistry.js';
export {
  type AuthorityStatus,
  Entity,
  type ReplicationConfig,
  type ScopeExitPolicy,
  SERVER_HOLDER,
} from './world/Entity.js';
export { type EntityRefType, entityRef } from './world/entityRef.js';
export {
  AuthorityError,
  type AuthorityErrorCode,
  type AuthorityResult,
  WorldError,
  type WorldErrorCode,
} from './world/errors.js';
export type { GlobalEntity } from './world/ids.js';
export type { Room } from './world/Room.js';
export type { PositionSource, ViewCenter } from './world/ServerWorld.js';
