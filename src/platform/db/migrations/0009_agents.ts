// Agents (issue 14): named assistants (a model, a system prompt, default parameters) and external agent services
// (an endpoint that is probed). The original's nine built-in entries are seeded here as data, owned by nobody and
// public; their endpoints are not stored but built from AGENTS_BASE_URL and `port`, so that one setting moves them.
import { sql, type Kysely } from 'kysely';
import { columnTypes } from './column-types.js';

/** The original's agents (reference §6.2), as they were listed. */
const BUILT_IN = [
  [
    'letta',
    'Letta (MemGPT)',
    'memory',
    11401,
    ['memory', 'chat', 'task-automation'],
    'Memory-augmented agent with long-term memory (MemGPT).',
  ],
  [
    'crewai',
    'CrewAI',
    'orchestrator',
    11403,
    ['orchestration', 'collaboration', 'task-delegation'],
    'Orchestrates crews of role-playing agents that collaborate on tasks.',
  ],
  [
    'aider',
    'Aider',
    'code-assistant',
    11404,
    ['code', 'refactoring', 'debugging'],
    'AI pair programmer that edits code in your repository.',
  ],
  [
    'langchain',
    'LangChain',
    'framework',
    11405,
    ['chat', 'chains', 'tools', 'agents'],
    'Chains, tools and agents built with LangChain.',
  ],
  [
    'finrobot',
    'FinRobot',
    'specialist',
    11410,
    ['financial-analysis', 'market-data', 'reports'],
    'Financial analysis agent: market data and reports.',
  ],
  [
    'shellgpt',
    'ShellGPT',
    'cli-assistant',
    11413,
    ['cli', 'automation', 'scripting'],
    'Command-line assistant for shell commands and scripts.',
  ],
  [
    'documind',
    'Documind',
    'document-processor',
    11414,
    ['document-processing', 'ocr', 'extraction'],
    'Document processing: OCR and extraction.',
  ],
  [
    'gpt-engineer',
    'GPT-Engineer',
    'code-generator',
    11416,
    ['code-generation', 'project-scaffolding'],
    'Generates whole projects from a description.',
  ],
] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(db);
  await db.schema
    .createTable('agents')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('type', 'varchar(64)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('capabilities', t.json, (c) => c.notNull())
    // An external agent service: its URL, or (built-in ones) its port on AGENTS_BASE_URL.
    .addColumn('endpoint', 'text')
    .addColumn('port', 'integer')
    // An LLM-backed assistant.
    .addColumn('model', 'varchar(255)')
    .addColumn('system_prompt', 'text')
    // Double precision: PostgreSQL's real would keep 0.123456789 as 0.12345679.
    .addColumn('temperature', t.isPostgres ? 'double precision' : 'real')
    .addColumn('max_tokens', 'integer')
    // More fields of the original's shape (the tinyllama entry's provider, max_tokens, local).
    .addColumn('extra', t.json)
    .addColumn('visibility', 'varchar(16)', (c) => c.notNull().defaultTo('public'))
    .addColumn('owner_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('created_at', t.timestamp, (c) => c.notNull().defaultTo(t.now))
    .addColumn('updated_at', t.timestamp, (c) => c.notNull().defaultTo(t.now))
    .execute();
  await db.schema.createIndex('agents_owner_idx').on('agents').column('owner_id').execute();

  const json = (value: unknown) => JSON.stringify(value);
  for (const [id, name, type, port, capabilities, description] of BUILT_IN) {
    await sql`
      INSERT INTO agents (id, name, type, description, capabilities, port, visibility)
      VALUES (${id}, ${name}, ${type}, ${description}, ${json(capabilities)}, ${port}, 'public')`.execute(db);
  }
  // The original's local LLM entry: an assistant on the model it names, served by Ollama's port.
  await sql`
    INSERT INTO agents (id, name, type, description, capabilities, port, model, extra, visibility)
    VALUES ('tinyllama', 'TinyLlama', 'llm', 'Local TinyLlama model served by Ollama.',
            ${json(['chat', 'text-generation'])}, 11434, 'tinyllama:latest',
            ${json({ provider: 'ollama', max_tokens: 2048, local: true })}, 'public')`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are frozen in time and use Kysely<any>
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('agents').execute();
}
