export { default as agentsPlugin } from './agents.plugin.js';
export { AGENT_ID_PATTERN } from './agents.service.js';
