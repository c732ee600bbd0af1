package govlake.checks;

/**
 * GB 11643 ID numbers, GB 32100 credit codes (USCC) and GB/T 36904 certificate identifiers
 * checked in one call per value, with the reason codes of jobs/identifiers.py (null if valid).
 *
 * <p>Spark expressions could only reach the per-character MOD 11-2, MOD 31 and MOD 37,36 sums
 * through an interpreted lambda or string copies; here they are plain loops (issue 19).
 */
public final class IdentifierChecks {
  static final String TRIM = " \t\r\n\u3000\u00a0\u200b\ufeff";
  static final String USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static final String CERT_ROOT = "1.2.156.3005.2.";
  // GB 32100: 3^(i-1) mod 31; GB 11714: the organisation code's weights.
  private static final int[] USCC_WEIGHTS = {
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
  };
  private static final int[] ORG_WEIGHTS = {3, 7, 9, 10, 5, 8, 4, 2};
  // GB 11643: 2^(18-i) mod 11.
  private static final int[] RIC_WEIGHTS = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  private static final String RIC_CHECK_CHARS = "10X98765432";
  private static final int RIC_LENGTH = 18;
  private static final int RIC_OLD_LENGTH = 15;
  private static final String EARLIEST_BIRTH = "19000101";
  private static final int[] DAYS_IN_MONTH = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  private static final String ORG_CHECK_CHARS = "0X987654321";
  private static final int USCC_LENGTH = 18;
  private static final int CERT_PARTS = 5;
  private static final int[] USCC_VALUE = new int[128];
  private static final int RADIX = 36;
  // MOD 37,36: the row (state x 36) of the state after a character of value v in state s.
  private static final int[] MOD_37_36_NEXT = new int[RADIX * RADIX];

  static {
    java.util.Arrays.fill(USCC_VALUE, -1);
    for (int i = 0; i < USCC_ALPHABET.length(); i++) {
      USCC_VALUE[USCC_ALPHABET.charAt(i)] = i;
    }
    for (int state = 0; state < RADIX; state++) {
      for (int v = 0; v < RADIX; v++) {
        int next = ((state == 0 ? RADIX : state) * 2 % (RADIX + 1) + v) % RADIX;
        MOD_37_36_NEXT[state * RADIX + v] = next * RADIX;
      }
    }
  }

  private IdentifierChecks() {}

  /** Trimmed (also U+3000), full-width ASCII made half-width, upper case: as typed in forms. */
  public static String normalize(String raw) {
    if (raw == null) {
      return null;
    }
    String value = raw;
    for (int i = 0; i < raw.length(); i++) {
      if (raw.charAt(i) >= 0x80) {
        value = halfWidth(raw);
        break;
      }
    }
    int start = 0;
    int end = value.length();
    while (start < end && TRIM.indexOf(value.charAt(start)) >= 0) {
      start++;
    }
    while (end > start && TRIM.indexOf(value.charAt(end - 1)) >= 0) {
      end--;
    }
    // Spark's upper() with the JVM's case mappings (spark.sql.icu.caseMappings.enabled=false).
    return value.substring(start, end).toUpperCase();
  }

  private static String halfWidth(String raw) {
    char[] chars = raw.toCharArray();
    for (int i = 0; i < chars.length; i++) {
      if (chars[i] >= '\uff01' && chars[i] <= '\uff5e') {
        chars[i] = (char) (chars[i] - 0xfee0);
      }
    }
    return new String(chars);
  }

  /**
   * The reason a normalised ID number fails, most basic first; null when valid. `today` is
   * yyyyMMdd (a later birth date is in the future; null skips that check).
   */
  public static String ricReason(String value, String today, AddressPrefixes prefixes) {
    if (value == null || value.isEmpty()) {
      return "missing";
    }
    if (value.length() == RIC_OLD_LENGTH && digits(value, 0, RIC_OLD_LENGTH)) {
      return "old_15_digit";
    }
    if (value.codePointCount(0, value.length()) != RIC_LENGTH) {
      return "bad_length";
    }
    char last = value.charAt(17);
    if (!digits(value, 0, 17) || !(last == 'X' || (last >= '0' && last <= '9'))) {
      return "bad_char";
    }
    if (ricCheckChar(value) != last) {
      return "bad_check";
    }
    return birthReason(value, today, prefixes);
  }

  private static String birthReason(String value, String today, AddressPrefixes prefixes) {
    if (!isDate(value, 6)) {
      return "bad_birth_date";
    }
    // Eight digits each: their order is the dates' order.
    if (compare8(value, EARLIEST_BIRTH) < 0) {
      return "birth_before_1900";
    }
    if (today != null && compare8(value, today) > 0) {
      return "birth_in_future";
    }
    return prefixes.matches(value) ? null : "unknown_division";
  }

  /** The birth date (characters 7 to 14) against a yyyyMMdd date. */
  private static int compare8(String value, String date) {
    if (date.length() != 8) {
      throw new IllegalArgumentException("date '" + date + "' is not yyyyMMdd");
    }
    for (int i = 0; i < 8; i++) {
      int diff = value.charAt(6 + i) - date.charAt(i);
      if (diff != 0) {
        return diff;
      }
    }
    return 0;
  }

  /**
   * Whether the 8 digits from `from` are a date yyyyMMdd of the proleptic Gregorian calendar
   * (as Spark's try_to_date reads them: year 0000 included).
   */
  static boolean isDate(String value, int from) {
    int year = Integer.parseInt(value, from, from + 4, 10);
    int month = Integer.parseInt(value, from + 4, from + 6, 10);
    int day = Integer.parseInt(value, from + 6, from + 8, 10);
    if (month < 1 || month > 12 || day < 1) {
      return false;
    }
    boolean leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    return day <= DAYS_IN_MONTH[month - 1] + (month == 2 && leap ? 1 : 0);
  }

  /** GB 11643 (ISO 7064 MOD 11-2) check character of the first 17 digits. */
  static char ricCheckChar(String value) {
    int total = 0;
    for (int i = 0; i < RIC_WEIGHTS.length; i++) {
      total += (value.charAt(i) - '0') * RIC_WEIGHTS[i];
    }
    return RIC_CHECK_CHARS.charAt(total % 11);
  }

  /** The reason a normalised credit code fails, most basic first; null when valid. */
  public static String usccReason(String value, EntityTypes types, boolean orgCheck) {
    return value == null ? "missing" : usccReason(value, 0, value.length(), types, orgCheck);
  }

  /** The same for the characters from `from` to `to` of `value` (no copy of them). */
  static String usccReason(String value, int from, int to, EntityTypes types, boolean orgCheck) {
    if (from == to) {
      return "missing";
    }
    if (value.codePointCount(from, to) != USCC_LENGTH) {
      return "bad_length";
    }
    for (int i = from; i < to; i++) {
      if (usccValue(value.charAt(i)) < 0) {
        return "bad_char";
      }
    }
    if (!types.isAuthority(value.charAt(from))) {
      return "bad_authority";
    }
    if (!types.allows(value.charAt(from), value.charAt(from + 1))) {
      return "bad_entity_type";
    }
    if (!digits(value, from + 2, 6)) {
      return "bad_division";
    }
    if (usccCheckChar(value, from) != value.charAt(from + 17)) {
      return "bad_check";
    }
    if (orgCheck && orgCheckChar(value, from) != value.charAt(from + 16)) {
      return "bad_org_code_check";
    }
    return null;
  }

  private static int usccValue(char c) {
    return c < USCC_VALUE.length ? USCC_VALUE[c] : -1;
  }

  static boolean digits(String value, int start, int length) {
    if (value.length() < start + length) {
      return false;
    }
    for (int i = start; i < start + length; i++) {
      if (value.charAt(i) < '0' || value.charAt(i) > '9') {
        return false;
      }
    }
    return true;
  }

  /** GB 32100 MOD 31 check character of the first 17 characters (all in the alphabet). */
  static char usccCheckChar(String value, int from) {
    int total = 0;
    for (int i = 0; i < USCC_WEIGHTS.length; i++) {
      total += USCC_VALUE[value.charAt(from + i)] * USCC_WEIGHTS[i];
    }
    return USCC_ALPHABET.charAt((31 - total % 31) % 31);
  }

  /** GB 11714 check character of the organisation code (characters 9 to 16). */
  static char orgCheckChar(String value, int from) {
    int total = 0;
    for (int i = 0; i < ORG_WEIGHTS.length; i++) {
      total += base36(value.charAt(from + 8 + i)) * ORG_WEIGHTS[i];
    }
    return ORG_CHECK_CHARS.charAt(total % 11);
  }

  /**
   * The reason a normalised certificate identifier fails, most basic first; null if valid. Its
   * parts are read where they stand (by the positions of their dots), without copies.
   */
  public static String certReason(String value, EntityTypes types, boolean orgCheck) {
    if (value == null || value.isEmpty()) {
      return "missing";
    }
    if (!value.startsWith(CERT_ROOT)) {
      return "bad_root";
    }
    int[] ends = partEnds(value, CERT_ROOT.length());
    if (ends == null) {
      return "bad_format";
    }
    for (int i = CERT_ROOT.length(); i < value.length(); i++) {
      if (base36(value.charAt(i)) < 0 && value.charAt(i) != '.') {
        return "bad_char";
      }
    }
    if (ends[3] - ends[2] != 4 || !digits(value, ends[2] + 1, 3)) {
      return "bad_version";
    }
    if (usccReason(value, ends[0] + 1, ends[1], types, orgCheck) != null) {
      return "bad_issuer";
    }
    return mod3736(value, CERT_ROOT.length()) == 1 ? null : "bad_check";
  }

  /**
   * Where each of the five parts after `start` ends (the dot after it, or the end of the
   * value), or null when there are not five, one is empty or the check part is not one
   * character.
   */
  private static int[] partEnds(String value, int start) {
    int[] ends = new int[CERT_PARTS];
    int part = 0;
    int begin = start;
    for (int i = start; i <= value.length(); i++) {
      if (i < value.length() && value.charAt(i) != '.') {
        continue;
      }
      if (part == CERT_PARTS || i == begin) {
        return null;
      }
      ends[part++] = i;
      begin = i + 1;
    }
    if (part != CERT_PARTS) {
      return null;
    }
    int check = ends[CERT_PARTS - 2] + 1;
    return value.codePointCount(check, value.length()) == 1 ? ends : null;
  }

  private static int base36(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    return c >= 'A' && c <= 'Z' ? c - 'A' + 10 : -1;
  }

  /** ISO/IEC 7064 MOD 37,36 state after every character but the dots; 1 when it fits. */
  static int mod3736(String value, int from) {
    // Each step is a lookup of the next state's row: two divisions per character cost more
    // than everything else the check does.
    int row = 18 * RADIX;
    for (int i = from; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c != '.') {
        row = MOD_37_36_NEXT[row + base36(c)];
      }
    }
    return row / RADIX;
  }
}
