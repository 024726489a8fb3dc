// GET /api/v1/agents/models and /model/{id}: the registry's entries with whether the provider really has each model
// (`available`, else `api_required`, the original's word for a model that is not served here), and the provider's
// other models, listed with what little is known of them.
import { NotFoundError } from '../../platform/errors.js';
import { sameModel, type RegistryEntry } from './model-registry.js';

export type ModelStatus = 'available' | 'api_required';

export interface ModelView {
  name: string;
  provider: string;
  capabilities: string[];
  max_tokens: number | null;
  cost_per_1k: number;
  latency: number | null;
  quality: number | null;
  local: boolean;
  status: ModelStatus;
}

export interface ModelRegistryDeps {
  registry: Record<string, RegistryEntry>;
  /** The provider's models; null when it cannot be asked (every model is then `api_required`). */
  providerModels(): Promise<Set<string> | null>;
  providerName: string;
}

export class ModelRegistryService {
  constructor(private readonly deps: ModelRegistryDeps) {}

  async catalog(): Promise<{
    models: Record<string, ModelView>;
    count: number;
    providers: string[];
    provider_available: boolean;
  }> {
    const served = await this.deps.providerModels();
    const models: Record<string, ModelView> = {};
    for (const [key, entry] of Object.entries(this.deps.registry)) models[key] = this.view(entry, served);
    // The provider's models the registry does not describe.
    for (const name of served ?? []) {
      const known = Object.values(this.deps.registry).some((entry) => sameModel(entry.name, name));
      if (!known && !Object.hasOwn(models, name)) models[name] = this.unknown(name);
    }
    const providers = [...new Set(Object.values(models).map((model) => model.provider))].sort();
    return { models, count: Object.keys(models).length, providers, provider_available: served !== null };
  }

  /** A registry key, or a model name the provider serves; 404 otherwise. */
  async model(id: string): Promise<ModelView & { id: string }> {
    const served = await this.deps.providerModels();
    const entry = Object.hasOwn(this.deps.registry, id) ? this.deps.registry[id] : undefined;
    if (entry) return { id, ...this.view(entry, served) };
    const name = [...(served ?? [])].find((model) => sameModel(model, id));
    if (name !== undefined) return { id, ...this.unknown(name) };
    throw new NotFoundError(`Model ${id} not found`, 'model_not_found');
  }

  private view(entry: RegistryEntry, served: Set<string> | null): ModelView {
    const available = [...(served ?? [])].some((name) => sameModel(name, entry.name));
    return { ...entry, status: available ? 'available' : 'api_required' };
  }

  private unknown(name: string): ModelView {
    return {
      name,
      provider: this.deps.providerName,
      capabilities: ['chat'],
      max_tokens: null,
      cost_per_1k: 0,
      latency: null,
      quality: null,
      local: this.deps.providerName === 'ollama',
      status: 'available',
    };
  }
}
