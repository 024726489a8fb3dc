export { default as agentsPlugin } from './agents.plugin.js';
