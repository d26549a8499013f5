/**
 * Entry of the shipped browser bundle (`baton/client/browser` → `dist/browser/baton-client.js`):
 * the client API plus what a page needs to define its protocol (`component`, `message`, `t`,
 * `defineProtocol`), so one ES module file is all a `<script type="module">` imports. Node code
 * and bundlers import `baton` and `baton/client` instead; this module only gathers them.
 */
export {
  type ChannelDirection,
  type ChannelMode,
  type ChannelSpec,
  type ComponentDef,
  component,
  DecodeError,
  defineProtocol,
  type Infer,
  type MessageDef,
  message,
  Protocol,
  type ProtocolConfig,
  type Schema,
  t,
} from '../index.js';
export * from './index.js';
