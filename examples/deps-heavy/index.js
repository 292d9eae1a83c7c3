// deps-heavy — importing dependencies dominates its cold start: `thaw deploy examples/deps-heavy`, then invoke it with {"name": "Ada", "email": "ada@example.com"}.
// It loads eight real npm packages (lodash, moment, date-fns, ajv, yaml, uuid, validator, chance —
// several MB of JavaScript once bundled) at the top level, the way most functions do, and uses each.

const _ = require('lodash');
const moment = require('moment');
const dateFns = require('date-fns');
const Ajv = require('ajv');
const YAML = require('yaml');
const { v4: uuidv4, v7: uuidv7 } = require('uuid');
const validator = require('validator');
const Chance = require('chance');

const ajv = new Ajv({ allErrors: true });
const validateEvent = ajv.compile({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    email: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: true,
});

exports.handler = async function handler(event) {
  const input = event ?? {};
  if (!validateEvent(input)) {
    return { ok: false, errors: validateEvent.errors.map((e) => `${e.instancePath || '/'} ${e.message}`) };
  }
  const chance = new Chance(input.name ?? 'seed');
  const now = new Date();
  const summary = {
    ok: true,
    id: uuidv7(),
    requestId: uuidv4(),
    greeting: `Hello, ${_.startCase(input.name ?? chance.first())}!`,
    emailValid: input.email === undefined ? null : validator.isEmail(String(input.email)),
    tags: _.uniq(_.map(input.tags ?? [], _.kebabCase)),
    today: moment(now).format('dddd, MMMM Do YYYY'),
    nextMonday: dateFns.formatISO(dateFns.nextMonday(now), { representation: 'date' }),
    luckyNumber: chance.integer({ min: 1, max: 99 }),
  };
  return { ...summary, yaml: YAML.stringify(_.omit(summary, ['yaml'])) };
};
