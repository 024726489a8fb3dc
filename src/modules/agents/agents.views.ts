// Agents as the API shows them: the original's entry (id, name, type, description, capabilities, endpoint, port,
// status, and the tinyllama entry's provider/max_tokens/local) with the persisted agent's fields.
import type { AgentView } from './agents.service.js';

export function agentItem(agent: AgentView) {
  const extra = agent.extra ?? {};
  return {
    id: agent.id,
    name: agent.name,
    type: agent.type,
    description: agent.description,
    capabilities: agent.capabilities,
    endpoint: agent.url,
    port: agent.port,
    status: agent.status,
    model: agent.model,
    system_prompt: agent.systemPrompt,
    temperature: agent.temperature,
    max_tokens: agent.maxTokens ?? (typeof extra.max_tokens === 'number' ? extra.max_tokens : null),
    visibility: agent.visibility,
    owner_id: agent.ownerId,
    built_in: agent.ownerId === null,
    created_at: agent.createdAt.toISOString(),
    updated_at: agent.updatedAt.toISOString(),
    ...(typeof extra.provider === 'string' ? { provider: extra.provider } : {}),
    ...(typeof extra.local === 'boolean' ? { local: extra.local } : {}),
  };
}
