// Turns DevTools protocol events ([{method, params}], as
// e2e/harcorpus_test.go recorded them) into a HAR with the chrome-har
// library: node chromehar.js EVENTS.json OUT.har
const fs = require('fs');
const { harFromMessages } = require('chrome-har');

const events = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const har = harFromMessages(events, { includeTextFromResponseBody: true });
fs.writeFileSync(process.argv[3], JSON.stringify(har, null, 2) + '\n');
