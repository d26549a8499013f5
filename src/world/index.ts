/** Layer 4: world replication (entities, components, scopes, host/remote engines). */
export { type AuthApply, AuthChannel, type AuthOffer, type AuthOp, type AuthState } from './AuthChannel.js';
export { ClientWorld, type ClientWorldEvents, type ClientWorldOptions, SERVER_KEY } from './ClientWorld.js';
export {
  type AnyComponentDef,
  ComponentKind,
  ComponentRegistry,
  MAX_PROPERTIES,
} from './ComponentRegistry.js';
export {
  type AuthorityOp,
  type AuthorityStatus,
  ComponentInstance,
  Entity,
  type EntityWorld,
  type ReplicationConfig,
  type ScopeExitPolicy,
  SERVER_HOLDER,
} from './Entity.js';
export { type EntityRefType, entityRef, isEntityRef } from './entityRef.js';
export {
  AuthorityError,
  type AuthorityErrorCode,
  type AuthorityResult,
  WorldError,
  type WorldErrorCode,
} from './errors.js';
export { AuthWire, CmdType, type DecodedFrame, decodeFrame, receiverHosted } from './frame.js';
export {
  COMMAND_WINDOW,
  fullMask,
  HostComponentRecord,
  HostEngine,
  HostEntityChannel,
  type OutCommand,
} from './HostEngine.js';
export {
  type GlobalEntity,
  GlobalEntityAllocator,
  type GlobalEntityAllocatorOptions,
  type HostEntity,
  HostIdAllocator,
  MAX_WIRE_ENTITY,
  type RemoteEntity,
} from './ids.js';
export { LocalEntityMap, type LocalIdSide, REDIRECT_TTL_MS } from './LocalEntityMap.js';
export { RemoteComponentChannel, RemoteEngine, RemoteEntityChannel } from './RemoteEngine.js';
export { Room } from './Room.js';
export {
  type PositionSource,
  ServerWorld,
  type ServerWorldEvents,
  type ServerWorldOptions,
  type ViewCenter,
} from './ServerWorld.js';
export {
  REF_WAIT_MS,
  WorldConnection,
  type WorldConnectionOptions,
  type WorldConnectionStats,
  type WorldSink,
} from './WorldConnection.js';
export { SEQ_MOD, seqDiff, seqGreater, unwrapSeq } from './wrap.js';
