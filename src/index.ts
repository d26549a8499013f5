/**
 * baton: TypeScript multiplayer networking. The root entry holds what server and client code
 * share: protocol definitions and their types. Browser-safe. The APIs live in `baton/server`
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
