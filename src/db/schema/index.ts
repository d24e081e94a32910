export * from './identity.js';
export * from './records.js';
export * from './access-log.js';
export * from './console.js';
export * from './jobs.js';
