package govlake.checks;

import java.util.BitSet;

/**
 * The GB/T 2260 address-code prefixes an ID number may start with, from "11,12,4207,...": 2 to
 * 6 digits each (jobs/identifiers.py checks them), one bit set per prefix length.
 */
public final class AddressPrefixes {
  private static final int SHORTEST = 2;
  private static final int LONGEST = 6;
  private static final LastParsed<AddressPrefixes> PARSED = new LastParsed<>(AddressPrefixes::new);

  private final BitSet[] byLength = new BitSet[LONGEST + 1];

  private AddressPrefixes(String spec) {
    for (String prefix : spec.split(",", -1)) {
      int length = prefix.length();
      if (length < SHORTEST || length > LONGEST || !IdentifierChecks.digits(prefix, 0, length)) {
        throw new IllegalArgumentException("address prefix '" + prefix + "' is not 2 to 6 digits");
      }
      if (byLength[length] == null) {
        byLength[length] = new BitSet();
      }
      byLength[length].set(Integer.parseInt(prefix));
    }
  }

  /** The prefixes of `spec`, parsed once while rows keep passing the same text. */
  public static AddressPrefixes of(String spec) {
    return PARSED.of(spec);
  }

  /** Whether the value (its first six characters digits) starts with one of the prefixes. */
  boolean matches(String value) {
    int code = 0;
    for (int length = 1; length <= LONGEST; length++) {
      code = code * 10 + (value.charAt(length - 1) - '0');
      if (byLength[length] != null && byLength[length].get(code)) {
        return true;
      }
    }
    return false;
  }
}
