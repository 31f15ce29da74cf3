import { loadConfig } from '../config/index.js';
import { topics, type Topic } from '../domain/events/topics.js';
import { listDeadLetters, replayDeadLetters, type DeadLetter } from '../events/dead-letters.js';
import { createIdempotentProducer, createKafka } from '../events/kafka.js';
import { kafkaNames } from '../events/kafka-names.js';
import { createLogger } from '../runtime/log.js';

// Dead letters: `npm run dlq -- list <topic>` shows what is in <topic>.dlq and why;
// `npm run dlq -- replay <topic>` sends what was not replayed yet back to <topic>, once the cause is fixed.
const usage = `usage: npm run dlq -- list|replay <topic>   (topics: ${Object.keys(topics).join(', ')})`;
const [command, name] = process.argv.slice(2);
const topic = name?.replace(/\.dlq$/, '');

function refuse(message: string): never {
  console.error(message);
  process.exit(2);
}

if (command !== 'list' && command !== 'replay') refuse(usage);
if (!topic || !(topic in topics)) refuse(`${name ? `unknown topic "${name}"` : 'no topic'}; ${usage}`);

function show(letter: DeadLetter): string {
  const { original } = letter;
  return [
    `${letter.partition}/${letter.offset}  ${letter.failedAt ?? '(no time)'}  key ${letter.key ?? '(none)'}${letter.replayed ? '  [replayed]' : ''}`,
    `  event  ${letter.eventType ?? '(unreadable)'} ${letter.eventId ?? ''}`.trimEnd(),
    `  from   ${original.topic} partition ${original.partition} offset ${original.offset}, group ${letter.consumerGroup ?? '?'}, after ${letter.attempts ?? '?'} attempt(s)`,
    `  error  ${letter.error ?? '(none recorded)'}`,
  ].join('\n');
}

const config = loadConfig();
const names = kafkaNames(config.kafka.topicPrefix);
const kafka = createKafka(config, 'dlq', createLogger('dlq', 'warn'));
const deps = { kafka, names, replayGroup: `${config.kafka.topicPrefix}${config.kafka.clientId}-dlq-replay` };
const dlq = names.deadLetter(topic as Topic);

if (command === 'list') {
  const letters = await listDeadLetters(deps, topic as Topic);
  console.log(letters.length ? letters.map(show).join('\n\n') : `${dlq} is empty`);
  const waiting = letters.filter((l) => !l.replayed).length;
  if (letters.length) console.log(`\n${letters.length} dead letter(s) in ${dlq}, ${waiting} not replayed`);
} else {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    const replayed = await replayDeadLetters({ ...deps, producer }, topic as Topic);
    for (const letter of replayed) console.log(`replayed ${dlq} ${letter.partition}/${letter.offset} (key ${letter.key}) to ${letter.original.topic}`);
    console.log(`${replayed.length} dead letter(s) replayed from ${dlq}`);
  } finally {
    await producer.disconnect();
  }
}
