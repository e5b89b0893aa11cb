import polyglotI18nProvider from 'ra-i18n-polyglot';
import englishMessages from 'ra-language-english';
import { mergeTranslations } from 'react-admin';
import raChinese from './ra-zh-CN';
import { en, zh } from './messages';

const catalogues = {
  'zh-CN': mergeTranslations(raChinese, zh),
  en: mergeTranslations(englishMessages, en),
};

type Locale = keyof typeof catalogues;

/**
 * Chinese by default; the language menu switches, and react-admin's store keeps the
 * choice in this browser.
 */
export const i18nProvider = polyglotI18nProvider(
  (locale) => catalogues[locale as Locale] ?? catalogues['zh-CN'],
  'zh-CN',
  [
    { locale: 'zh-CN', name: '中文' },
    { locale: 'en', name: 'English' },
  ],
);
