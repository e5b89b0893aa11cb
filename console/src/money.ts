/** Minor units (fen, cents) as the staff member's locale writes money. */
export function formatMoney(minor: number | null | undefined, currency: string | null | undefined, locale = 'zh-CN') {
  if (minor === null || minor === undefined || !currency) return '—';
  return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(minor / 100);
}

/** An amount typed in yuan or dollars, as the integer minor units the API takes. */
export const toMinor = (major: number | string | null | undefined) =>
  major === null || major === undefined || major === '' ? null : Math.round(Number(major) * 100);

export const toMajor = (minor: number | null | undefined) =>
  minor === null || minor === undefined ? null : minor / 100;
