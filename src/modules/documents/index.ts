// What other modules may use of the documents module.
export { default as documentsPlugin, type DocumentsPluginOptions } from './documents.plugin.js';
export { isIndexable } from './text-extraction.js';
