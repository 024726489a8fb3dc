// What other modules may use of the chat module.
export { default as chatPlugin, type ChatPluginOptions } from './chat.plugin.js';
export type { ChatDocuments, FileSelection } from './chat.service.js';
export type { ChatSource } from './chat.repository.js';
