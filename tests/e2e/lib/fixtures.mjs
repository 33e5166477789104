// Requests shared by several test files.

export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'City name, e.g. Paris' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 7 },
      },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
};

export const SEARCH_TOOL = {
  type: 'function',
  function: {
    name: 'search_docs',
    description: 'Search the documentation.',
    parameters: {
      type: 'object',
      properties: {
        query: { type: 'string' },
        max_results: { type: 'integer' },
        exact: { type: 'boolean' },
        sections: { type: 'array', items: { type: 'string', enum: ['api', 'guide', 'faq'] } },
      },
      required: ['query', 'exact'],
      additionalProperties: false,
    },
  },
};

export const TOOLS = [WEATHER_TOOL, SEARCH_TOOL];

export function toolSchema(name) {
  return TOOLS.find((t) => t.function.name === name)?.function.parameters;
}

export const PERSON_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    role: { type: 'string', enum: ['admin', 'user', 'guest'] },
    active: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: 'string' } },
      required: ['city', 'zip'],
      additionalProperties: false,
    },
  },
  required: ['name', 'age', 'role', 'active', 'tags', 'address'],
  additionalProperties: false,
};

export const PROMPTS = [
  'Say hello',
  'Write one sentence about the sea.',
  'What is 2 + 2?',
  'List three colours.',
  'Translate "good morning" into French.',
  'Tell me a joke about cats.',
];
