// The model registry: what the server knows of models beyond their names (capabilities, context size, relative
// latency and quality), kept as data — the original's eight entries (reference §6.2) unless AGENTS_MODEL_REGISTRY_FILE
// names a JSON file whose entries replace or add to them — joined with the models the provider really has.
import fs from 'node:fs';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';

export const RegistryEntry = Type.Object({
  name: Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'The provider’s model name, e.g. mistral:latest.',
  }),
  provider: Type.String({ minLength: 1, maxLength: 64 }),
  capabilities: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32 }),
  max_tokens: Type.Integer({ minimum: 1 }),
  cost_per_1k: Type.Number({ minimum: 0 }),
  latency: Type.Number({ minimum: 0, description: 'Relative seconds, as the original listed them.' }),
  quality: Type.Number({ minimum: 0, maximum: 1 }),
  local: Type.Boolean(),
});
export type RegistryEntry = Static<typeof RegistryEntry>;

const RegistryFile = Type.Record(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$' }), RegistryEntry);

const entry = (
  name: string,
  maxTokens: number,
  latency: number,
  quality: number,
  capabilities: string[],
) => ({
  name,
  provider: 'ollama',
  capabilities,
  max_tokens: maxTokens,
  cost_per_1k: 0,
  latency,
  quality,
  local: true,
});

/** The original's static registry (its JARVIS orchestrator's). */
export const DEFAULT_REGISTRY: Record<string, RegistryEntry> = {
  tinyllama: entry('tinyllama:latest', 2048, 0.3, 0.75, ['chat', 'summarization']),
  'mistral-7b': entry('mistral:latest', 4096, 0.5, 0.82, ['chat', 'analysis', 'creative', 'translation']),
  'llama2-7b': entry('llama2:7b', 4096, 0.8, 0.85, ['chat', 'analysis', 'summarization']),
  'llama2-13b': entry('llama2:13b', 4096, 1.5, 0.88, ['chat', 'analysis', 'creative', 'summarization']),
  'gpt-oss-20b': entry('gpt-oss:20b', 8192, 2.5, 0.92, ['chat', 'analysis', 'code', 'creative']),
  codestral: entry('codestral:latest', 32768, 2.0, 0.92, ['code', 'analysis']),
  'deepseek-coder': entry('deepseek-coder:latest', 16384, 1.8, 0.9, ['code', 'analysis']),
  llava: entry('llava:latest', 4096, 3.0, 0.85, ['vision', 'chat']),
};

/** The registry: the defaults, with the file's entries over them. Throws naming the problem for a bad file. */
export function loadModelRegistry(file: string | undefined): Record<string, RegistryEntry> {
  if (file === undefined) return { ...DEFAULT_REGISTRY };
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`AGENTS_MODEL_REGISTRY_FILE: cannot read ${file} as JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  const check = Compile(RegistryFile);
  if (!check.Check(parsed)) {
    const [first] = check.Errors(parsed);
    throw new Error(
      `AGENTS_MODEL_REGISTRY_FILE: ${file}: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`,
    );
  }
  return { ...DEFAULT_REGISTRY, ...parsed };
}

/** The same model, with or without Ollama's implicit `:latest` tag. */
export function sameModel(a: string, b: string): boolean {
  const plain = (name: string) =>
    name
      .trim()
      .toLowerCase()
      .replace(/:latest$/, '');
  return plain(a) === plain(b);
}
