// What other modules may use of the chat module.
export { default as chatPlugin, type ChatPluginOptions } from './chat.plugin.js';
