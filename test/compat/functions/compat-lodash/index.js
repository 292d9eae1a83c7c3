const _ = require('lodash');

exports.handler = async (event) => ({ chunks: _.chunk(event.values ?? [1, 2, 3, 4, 5], 2), sum: _.sum(event.values ?? [1, 2, 3, 4, 5]) });
