// Chooses the LLM adapter once, from config, for the composition root. The caller owns the result and calls close()
// when the app stops (its HTTP agent holds keep-alive sockets).
import type { Config } from '../../config.js';
import { createLlmHttp } from './llm-http.js';
import type { LlmProvider } from './llm.port.js';
import { OllamaProvider } from './ollama.provider.js';
import { OpenAiProvider } from './openai.provider.js';

export interface LlmProviderHandle {
  provider: LlmProvider;
  close(): Promise<void>;
}

export function createLlmProvider(config: Config['llm']): LlmProviderHandle {
  const http = createLlmHttp(config.provider, config.timeouts);
  switch (config.provider) {
    case 'ollama':
      return {
        provider: new OllamaProvider({
          baseUrl: config.ollamaUrl,
          request: http.request,
          keepAlive: config.keepAlive,
          numCtx: config.numCtx,
        }),
        close: http.close,
      };
    case 'openai':
      return {
        provider: new OpenAiProvider({
          baseUrl: config.openaiBaseUrl,
          apiKey: config.openaiApiKey,
          fetch: http.fetch,
          totalTimeoutMs: config.timeouts.totalMs,
        }),
        close: http.close,
      };
    default:
      // Config admits only the two; a config built by hand (a test) with another value fails here, loudly.
      void http.close();
      throw new Error(`Unknown LLM provider: ${String(config.provider)}`);
  }
}
