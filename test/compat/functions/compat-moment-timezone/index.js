// Time zones with moment-timezone (its zone database is a data file it requires).
const moment = require('moment-timezone');

exports.handler = async (event) => ({ local: moment.tz(event.at ?? '2026-06-01T12:00:00Z', event.zone ?? 'America/New_York').format() });
