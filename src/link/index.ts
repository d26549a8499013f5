/** Layer 2: the packet layer on one datagram hop. Browser-safe. */
export { LinkBackpressureError, LinkUsageError } from './errors.js';
export { LinkConnection, type LinkConnectionArgs, type TickMessage } from './LinkConnection.js';
export {
  type BudgetHolder,
  DEFAULT_RECEIVE_BUDGET_BYTES,
  processReceiveBudget,
  ReceiveBudget,
  type ReceiveBudgetStats,
} from './ReceiveBudget.js';
export { sequenceDiff, sequenceGreaterThan, sequenceLessThan } from './sequence.js';
export type { ChannelConfig, ChannelMode, LinkOptions, LinkStats } from './types.js';
export {
  isLinkPacket,
  MAX_MESSAGE_HEADER_BYTES,
  PACKET_HEADER_BYTES,
  PacketType,
} from './wire.js';
