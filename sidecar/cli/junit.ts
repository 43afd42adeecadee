/**
 * JUnit XML for `switchyard test --junit <file>`: the format CI systems (GitHub Actions reporters,
 * GitLab, Jenkins) show per test. One suite per test file, one test case per case; a file that did
 * not load is one failing case named after the file.
 */
import type { PolicyTestReport } from '../../engine/index.ts';
import { formatDiagnostics, formatFailure, inline } from './format.ts';

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (character) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[character] ?? character);
}

export function junitXml(reports: readonly PolicyTestReport[]): string {
  let tests = 0;
  let failures = 0;
  const suites = reports.map((report) => {
    const cases =
      report.diagnostics.length > 0
        ? [{ name: `${report.file} (did not load)`, message: 'the test file did not load', failure: formatDiagnostics(report.diagnostics).join('\n') }]
        : report.cases.map((result) => {
            const first = result.failures[0];
            return {
              name: result.note,
              message: first ? `${first.what}: expected ${inline(first.expected)}, actual ${inline(first.actual)}` : '',
              failure: result.passed ? null : [`${report.file}:${result.line}`, ...result.failures.flatMap((failure) => formatFailure(failure, ''))].join('\n'),
            };
          });
    const suiteFailures = cases.filter((entry) => entry.failure !== null).length;
    tests += cases.length;
    failures += suiteFailures;
    const body = cases
      .map((entry) => {
        const open = `    <testcase classname="${escapeXml(report.file)}" name="${escapeXml(entry.name)}"`;
        if (entry.failure === null) return `${open}/>`;
        return `${open}>\n      <failure message="${escapeXml(entry.message)}">${escapeXml(entry.failure)}</failure>\n    </testcase>`;
      })
      .join('\n');
    return `  <testsuite name="${escapeXml(report.file)}" tests="${cases.length}" failures="${suiteFailures}">\n${body}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="switchyard" tests="${tests}" failures="${failures}">\n${suites.join('\n')}\n</testsuites>\n`;
}
