// chat_messages_total: messages stored, by role and status (complete, partial, error); chat_model_switches_total:
// turns that asked a session for another model than its own; chat_agent_turns_total and chat_agent_tokens_total:
// turns through an agent (label: a built-in agent's id, every other agent as `custom`, so the label stays bounded).
import { Counter, type Registry } from 'prom-client';

export interface ChatMetrics {
  message(role: 'user' | 'assistant', status: 'complete' | 'partial' | 'error'): void;
  modelSwitch(): void;
  agentTurn(agent: string, tokens: { prompt: number | null; completion: number | null }): void;
}

export function createChatMetrics(registry: Registry): ChatMetrics {
  const messages = new Counter({
    name: 'chat_messages_total',
    help: 'Chat messages stored, by role and status (complete, partial: the stream broke or the client left, error).',
    labelNames: ['role', 'status'],
    registers: [registry],
  });
  const switches = new Counter({
    name: 'chat_model_switches_total',
    help: 'Chat turns that used another model than their session was created with.',
    registers: [registry],
  });
  const agentTurns = new Counter({
    name: 'chat_agent_turns_total',
    help: 'Chat turns through an agent that were answered, by agent (built-in ones by id, any other as custom).',
    labelNames: ['agent'],
    registers: [registry],
  });
  const agentTokens = new Counter({
    name: 'chat_agent_tokens_total',
    help: 'Tokens of chat turns through an agent, as the provider counted them, by agent and direction.',
    labelNames: ['agent', 'direction'],
    registers: [registry],
  });
  return {
    message: (role, status) => messages.inc({ role, status }),
    modelSwitch: () => switches.inc(),
    agentTurn: (agent, tokens) => {
      agentTurns.inc({ agent });
      if (tokens.prompt !== null) agentTokens.inc({ agent, direction: 'prompt' }, tokens.prompt);
      if (tokens.completion !== null) agentTokens.inc({ agent, direction: 'completion' }, tokens.completion);
    },
  };
}
