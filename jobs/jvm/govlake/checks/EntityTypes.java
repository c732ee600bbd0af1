package govlake.checks;

/**
 * GB 32100's registering authorities and the entity types each may register, parsed from
 * "1:1239;2:19;..." (jobs/identifiers.py writes it from ENTITY_TYPES).
 */
public final class EntityTypes {
  private static final int ASCII = 128;
  private static final LastParsed<EntityTypes> PARSED = new LastParsed<>(EntityTypes::new);

  private final boolean[] authorities = new boolean[ASCII];
  private final boolean[] pairs = new boolean[ASCII * ASCII];

  private EntityTypes(String spec) {
    for (String entry : spec.split(";", -1)) {
      int colon = entry.indexOf(':');
      if (colon != 1 || entry.charAt(0) >= ASCII) {
        throw new IllegalArgumentException(
            "entity types '" + spec + "': entry '" + entry + "' is not <authority>:<types>");
      }
      char authority = entry.charAt(0);
      authorities[authority] = true;
      for (int i = colon + 1; i < entry.length(); i++) {
        if (entry.charAt(i) >= ASCII) {
          throw new IllegalArgumentException("entity types '" + spec + "': not ASCII");
        }
        pairs[authority * ASCII + entry.charAt(i)] = true;
      }
    }
  }

  /** The table for `spec`, parsed once while rows keep passing the same text. */
  public static EntityTypes of(String spec) {
    return PARSED.of(spec);
  }

  boolean isAuthority(char authority) {
    return authority < ASCII && authorities[authority];
  }

  boolean allows(char authority, char type) {
    return authority < ASCII && type < ASCII && pairs[authority * ASCII + type];
  }
}
