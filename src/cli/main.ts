import { parseArgs, type ParseArgsConfig } from 'node:util';
import { coerceError, HubsyncError, UsageError } from '../errors.ts';
import { COMMANDS, type Command } from './commands.ts';
import { VERSION } from './version.ts';


function helpText(): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length));
  const lines = COMMANDS.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`);
  return [
    `hubsync ${VERSION}: a Postgres mirror of HubSpot CRM data, and app contacts out to Paragon`,
    '',
    'Usage: hubsync <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --config <file>  configuration file (default: $HUBSYNC_CONFIG, then config/hubsync.yaml)',
    '  -h, --help       this text',
    '  -v, --version    the version',
  ].join('\n');
}

function findCommand(positionals: string[]): { command: Command; args: string[] } | undefined {
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((word, index) => positionals[index] === word)) {
      return { command, args: positionals.slice(words.length) };
    }
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  const first = argv.filter((arg, index) => !arg.startsWith('-') && argv[index - 1] !== '--config');
  const found = findCommand(first);
  if (!found) {
    if (argv.includes('--version') || argv.includes('-v')) {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || first[0] === 'help') {
      process.stdout.write(`${helpText()}\n`);
      return 0;
    }
    throw new UsageError(`unknown command "${first.join(' ')}" (see \`hubsync --help\`)`);
  }
  const { command } = found;
  const options: ParseArgsConfig['options'] = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    ...command.options,
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]} (usage: hubsync ${command.usage})`);
  }
  if (parsed.values.help) {
    process.stdout.write(`Usage: hubsync ${command.usage}\n\n${command.summary}\n`);
    return 0;
  }
  const args = parsed.positionals.slice(command.name.split(' ').length);
  return command.action({ args, flags: parsed.values, env: process.env });
}

/** Runs one CLI invocation; operator mistakes print one line, never a stack trace. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (thrown) {
    const error = coerceError(thrown);
    if (error instanceof HubsyncError && error.operatorError) {
      process.stderr.write(`hubsync: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`hubsync: unexpected failure: ${error.stack ?? error.message}\n`);
    return 1;
  }
}
