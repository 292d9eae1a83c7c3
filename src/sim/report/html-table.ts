// Table data (table.ts) as an HTML table, with the same cells and alignment as the terminal.

import { escapeHtml } from './html-escape.ts';
import { cellText, inferAlign, type Column, type Table } from './table.ts';

function columnClasses(columns: readonly Column[], aligns: readonly string[], index: number): string {
  const classes: string[] = [];
  if (aligns[index] === 'right') classes.push('num');
  const group = columns[index]!.group;
  // A rule down the left of each group keeps one policy's columns together.
  if (group !== undefined && columns[index - 1]?.group !== group) classes.push('group-start');
  return classes.length ? ` class="${classes.join(' ')}"` : '';
}

function hasGroups(columns: readonly Column[]): boolean {
  return columns.some((column) => column.group !== undefined);
}

function groupHeaderRow(columns: readonly Column[]): string {
  if (!hasGroups(columns)) return '';
  const cells: string[] = [];
  for (let index = 0; index < columns.length; ) {
    const group = columns[index]!.group;
    let end = index + 1;
    while (group !== undefined && end < columns.length && columns[end]!.group === group) end++;
    const span = end - index;
    cells.push(
      group === undefined
        ? '<th></th>'
        : `<th class="group group-start" colspan="${span}" scope="colgroup">${escapeHtml(group)}</th>`,
    );
    index = end;
  }
  return `<tr class="groups">${cells.join('')}</tr>`;
}

export function tableToHtml(table: Table): string {
  const { columns, rows } = table;
  const aligns = columns.map((column, index) => inferAlign(column, rows, index));
  const head = columns
    .map((column, index) => `<th scope="col"${columnClasses(columns, aligns, index)}>${escapeHtml(column.header)}</th>`)
    .join('');
  const body = rows
    .map((row) => `<tr>${columns.map((_, index) => `<td${columnClasses(columns, aligns, index)}>${escapeHtml(cellText(row[index]))}</td>`).join('')}</tr>`)
    .join('\n');
  const parts = [
    '<div class="table-block">',
    table.title ? `<h3>${escapeHtml(table.title)}</h3>` : '',
    `<div class="table-scroll"><table${hasGroups(columns) ? ' class="grouped"' : ''}>\n<thead>${groupHeaderRow(columns)}<tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>`,
    table.notes?.length ? `<p class="notes">${table.notes.map(escapeHtml).join('<br>')}</p>` : '',
    '</div>',
  ];
  return parts.filter(Boolean).join('\n');
}
