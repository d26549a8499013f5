export { ConfigError, formatIssues, formatPath, loadProxyConfig, validateProxyConfig } from './load.js';
export { type ProxyConfig, type ProxyConfigInput, proxyConfigSchema } from './schema.js';
