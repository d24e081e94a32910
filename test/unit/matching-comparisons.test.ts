import { describe, expect, it } from 'vitest';
import { compareBirthDate, compareFamilyName, compareGivenName, compareIdentifiers, compareSex } from '../../src/matching/comparisons.js';
import { loadMatchingPolicy } from '../../src/matching/index.js';
import { jaroWinkler, withinOneEdit } from '../../src/matching/similarity.js';

// Every level of every comparison, reached by a pair that is a plain example of it.

const policy = loadMatchingPolicy();

describe('string distances', () => {
  it('withinOneEdit: one letter replaced, dropped, added, or two neighbours swapped; no more', () => {
    expect(withinOneEdit('lovelace', 'lovelace')).toBe(true);
    expect(withinOneEdit('lovelace', 'lovelase')).toBe(true);
    expect(withinOneEdit('lovelace', 'lovlace')).toBe(true);
    expect(withinOneEdit('lovelace', 'lovelacee')).toBe(true);
    expect(withinOneEdit('lovelace', 'olvelace')).toBe(true);
    expect(withinOneEdit('lovelace', 'lovelcae')).toBe(true);
    expect(withinOneEdit('lovelace', 'lvoelcae')).toBe(false);
    expect(withinOneEdit('lovelace', 'lovelacexy')).toBe(false);
    expect(withinOneEdit('ab', 'ba')).toBe(true);
    expect(withinOneEdit('abc', 'bca')).toBe(false);
  });

  it('jaroWinkler gives the textbook values (MARTHA/MARHTA 0.961, DWAYNE/DUANE 0.84, DIXON/DICKSONX 0.813)', () => {
    expect(jaroWinkler('martha', 'marhta')).toBeCloseTo(0.961, 3);
    expect(jaroWinkler('dwayne', 'duane')).toBeCloseTo(0.84, 3);
    expect(jaroWinkler('dixon', 'dicksonx')).toBeCloseTo(0.813, 3);
    expect(jaroWinkler('abc', 'abc')).toBe(1);
    expect(jaroWinkler('abc', 'xyz')).toBe(0);
    expect(jaroWinkler('', '')).toBe(0);
  });
});

describe('given name levels', () => {
  const level = (a: string, b: string) => compareGivenName(a, b, policy).level;
  it.each([
    ['exact (case, accents, punctuation folded)', 'Zoë', 'ZOE', 'exact'],
    ['shortForm', 'Peggy', 'Margaret', 'shortForm'],
    ['shortForm, the other way', 'Elizabeth', 'Liz', 'shortForm'],
    ['sameFullName', 'Peggy', 'Maggie', 'sameFullName'],
    ['oneSlip (5 letters or more)', 'Jennifer', 'Jenifer', 'oneSlip'],
    ['shortSlip (under 5 letters)', 'Ada', 'Adq', 'shortSlip'],
    ['similar (Jaro-Winkler, more than a slip)', 'Michael', 'Michelle', 'similar'],
    ['different', 'Ada', 'Grace', 'different'],
    ['different: two full names that share a short form', 'Christopher', 'Christian', 'different'],
    ['missing', 'Ada', '  ', 'missing'],
  ])('%s', (_, a, b, expected) => expect(level(a, b)).toBe(expected));

  it('the short-form reason names the short and the full name', () => {
    expect(compareGivenName('Margaret', 'Peggy', policy).words).toMatchObject({ short: 'Peggy', full: 'Margaret' });
  });
});

describe('family name levels', () => {
  const level = (a: string, b: string) => compareFamilyName(a, b, policy).level;
  it.each([
    ['exact', "O'Brien", 'OBRIEN', 'exact'],
    ['exact across accents', 'Núñez', 'Nunez', 'exact'],
    ['oneSlip', 'Lovelace', 'Lovelac', 'oneSlip'],
    ['shortSlip', 'Lee', 'Lea', 'shortSlip'],
    ['similar', 'Hendersen', 'Henderon', 'similar'],
    ['different', 'Lovelace', 'Babbage', 'different'],
    ['missing', '', 'Babbage', 'missing'],
  ])('%s: %s / %s', (_, a, b, expected) => expect(level(a, b)).toBe(expected));
});

describe('birth date levels', () => {
  it.each([
    ['1985-02-03', '1985-02-03', 'exact'],
    ['1985-02-03', '1985-03-02', 'dayMonthSwapped'],
    ['1985-02-03', '1986-02-03', 'yearOffByOne'],
    ['1989-02-03', '1990-02-03', 'yearOffByOne'],
    ['1985-02-03', '1985-02-08', 'oneDigitOff'],
    ['1985-02-03', '1958-02-03', 'oneDigitOff'],
    ['1985-02-03', '1995-02-03', 'oneDigitOff'],
    ['1985-02-03', '1960-07-19', 'different'],
    ['1985-02-03', '1979-02-03', 'different'],
    // Two years apart in the last digit is one digit off, as a slip of the key would make it.
    ['1985-02-03', '1987-02-03', 'oneDigitOff'],
    ['1985-02-03', '1985-02-30', 'missing'],
    ['1985-02-03', '', 'missing'],
  ])('%s / %s: %s', (a, b, expected) => expect(compareBirthDate(a, b).level).toBe(expected));
});

describe('sex and identifier levels', () => {
  it('sex agrees, differs, or is missing when unknown on either side', () => {
    expect(compareSex('female', 'Female').level).toBe('agrees');
    expect(compareSex('female', 'male').level).toBe('differs');
    expect(compareSex('unknown', 'male').level).toBe('missing');
    expect(compareSex(null, 'male').level).toBe('missing');
  });

  it('an identifier agrees on the same system and value (folded), disagrees on the same system only, else is missing', () => {
    const id = (system: string, value: string) => [{ system, value }];
    expect(compareIdentifiers(id('metro-police', 'P-20931'), id('metro-police', 'p 20931')).level).toBe('agrees');
    expect(compareIdentifiers(id('metro-police', 'P-20931'), id('metro-police', 'P-20932')).level).toBe('disagrees');
    expect(compareIdentifiers(id('metro-police', 'P-20931'), id('harbor-clinic', 'P-20931')).level).toBe('missing');
    expect(
      compareIdentifiers([...id('metro-police', 'P-1'), ...id('harbor-clinic', 'H-1')], [...id('metro-police', 'P-2'), ...id('harbor-clinic', 'H-1')]).level,
    ).toBe('agrees');
    expect(compareIdentifiers(undefined, id('metro-police', 'P-1')).level).toBe('missing');
  });
});
