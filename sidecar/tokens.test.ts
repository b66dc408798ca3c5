import { describe, expect, it } from 'vitest';
import { countTokens, countTokensByPattern } from './tokens.js';

/**
 * Messages as an agent writes them, with the tokens o200k_base encodes each in
 * (js-tiktoken 1.0.21, `getEncoding('o200k_base').encode(text).length`).
 */
const O200K: [kind: string, text: string, tokens: number][] = [
  [
    'prose',
    'Can you look up the weather in San Francisco for tomorrow and tell me whether I should bring an umbrella to the meeting?',
    24,
  ],
  [
    'prose',
    "Sure. Tomorrow's forecast for San Francisco shows light rain in the morning (about 60% chance) clearing by early afternoon, with highs around 17°C. I'd bring a compact umbrella for the commute.",
    42,
  ],
  [
    'prose',
    'The sidecar keeps the newest events that fit the budget; older ones are summarised by a digest, and nothing is ever deleted by folding.',
    29,
  ],
  [
    'code',
    'export function fold(events: readonly MemoryEvent[], budget: number): MemoryEvent[] {\n  const kept: MemoryEvent[] = [];\n  for (let i = events.length - 1; i >= 0 && budget > 0; i--) {\n    budget -= countTokens(JSON.stringify(events[i]));\n    kept.unshift(events[i]!);\n  }\n  return kept;\n}',
    75,
  ],
  [
    'code',
    'def get_weather(city: str, days: int = 1) -> dict:\n    """Return the forecast for `city`."""\n    resp = httpx.get(f"https://api.example.com/v1/forecast?q={city}&days={days}", timeout=5.0)\n    resp.raise_for_status()\n    return resp.json()',
    68,
  ],
  [
    'json',
    '{"city":"San Francisco","forecast":[{"date":"2026-03-02","high_c":17,"low_c":11,"precip_mm":2.4,"summary":"light rain, clearing"},{"date":"2026-03-03","high_c":19,"low_c":12,"precip_mm":0,"summary":"sunny"}],"units":"metric","source":"open-meteo"}',
    85,
  ],
  [
    'json',
    '{\n  "id": "call_8f3a2c91d4",\n  "type": "function",\n  "function": {\n    "name": "search_orders",\n    "arguments": "{\\"customer_id\\": 48213, \\"status\\": [\\"shipped\\", \\"delivered\\"], \\"limit\\": 20}"\n  }\n}',
    72,
  ],
  [
    'lang-de',
    'Können Sie mir bitte sagen, wann die nächste Lieferung ankommt? Ich habe die Bestellung vor drei Tagen aufgegeben.',
    25,
  ],
  [
    'lang-fr',
    "Bien sûr ! Votre commande a été expédiée hier et devrait arriver d'ici jeudi. Voulez-vous que je vous envoie le numéro de suivi ?",
    31,
  ],
  [
    'lang-es',
    'Necesito cambiar la dirección de envío de mi pedido; me mudé la semana pasada y todavía no he actualizado mi perfil.',
    25,
  ],
  [
    'lang-ru',
    'Пожалуйста, проверьте статус моего заказа и сообщите, когда его доставят. Я жду уже больше недели.',
    26,
  ],
  [
    'lang-ja',
    '明日の会議の資料を準備してください。売上の推移と来期の予測を含めて、十枚以内にまとめてほしいです。',
    37,
  ],
  ['lang-zh', '请帮我总结一下这份报告的主要结论，并列出需要在下周之前完成的三项任务。', 26],
  ['lang-ar', 'هل يمكنك مساعدتي في حجز طاولة لشخصين في مطعم قريب من الفندق مساء الغد؟', 22],
  ['lang-hi', 'कृपया मुझे बताइए कि मेरा ऑर्डर कब तक पहुँचेगा और क्या मैं डिलीवरी का समय बदल सकता हूँ।', 30],
  [
    'lang-ko',
    '내일 오후 세 시에 회의실을 예약해 주시고, 참석자들에게 안내 메일을 보내 주세요.',
    26,
  ],
];

/** A seeded generator, so a failure names a string that can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('countTokens', () => {
  it('counts nothing in an empty text and at least one token in any other', () => {
    expect(countTokens('')).toBe(0);
    for (const text of ['a', ' ', '\n', '.', '7', 'é', '中', '😀']) {
      expect(countTokens(text)).toBeGreaterThanOrEqual(1);
    }
  });

  it('is close to o200k_base on each kind of message, and errs high in total', () => {
    let estimated = 0;
    let actual = 0;
    for (const [kind, text, tokens] of O200K) {
      const ratio = countTokens(text) / tokens;
      expect(ratio, `${kind}: ${text}`).toBeGreaterThanOrEqual(0.75);
      expect(ratio, `${kind}: ${text}`).toBeLessThanOrEqual(1.4);
      estimated += countTokens(text);
      actual += tokens;
    }
    // Counting high keeps a window inside the model's real budget.
    expect(estimated / actual).toBeGreaterThan(1);
    expect(estimated / actual).toBeLessThan(1.2);
  });

  it('grows with the text: a longer message never counts less', () => {
    const text = O200K.map(([, t]) => t).join('\n');
    let previous = 0;
    for (let end = 0; end <= text.length; end += 37) {
      const n = countTokens(text.slice(0, end));
      expect(n).toBeGreaterThanOrEqual(previous - 1);
      previous = n;
    }
  });

  it('splits text exactly as the pattern does, on every kind of input', () => {
    for (const [, text] of O200K) expect(countTokens(text)).toBe(countTokensByPattern(text));
    // Every character class the scanner distinguishes, and some it leaves to the pattern.
    const alphabet = [
      'a',
      'Z',
      'q',
      'HTML',
      'Parser',
      '7',
      '42',
      ' ',
      '  ',
      '\t',
      '\n',
      '\r\n',
      '.',
      ',',
      "'",
      "'s",
      "'LL",
      "'l",
      "'R",
      "'ve",
      "'re",
      "'d",
      'l',
      '/',
      '//',
      '(',
      '{"',
      '":',
      '-',
      '_',
      '\u00a0',
      'é',
      'É',
      'ß',
      'я',
      '中',
      'の',
      '٣',
      '\u0301',
      '😀',
      '—',
      '\u2028',
      '\x00',
      '\x1f',
    ];
    const next = random(20);
    for (let n = 0; n < 3000; n++) {
      let text = '';
      const length = 1 + Math.floor(next() * 12);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(next() * alphabet.length)];
      expect(countTokens(text), JSON.stringify(text)).toBe(countTokensByPattern(text));
    }
  });

  it('counts a large text in one pass', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(20_000);
    expect(countTokens(text)).toBe(countTokensByPattern(text));
    expect(countTokens(text)).toBeGreaterThan(180_000);
  });
});
