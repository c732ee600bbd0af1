package govlake.checks;

import java.io.Serializable;

/**
 * A Spark function (value, entity types, check organisation code) -> reason or null, over the
 * normalised value: the credit code, or the certificate (whose issuer is a credit code). Each
 * function class names UDF3 itself: Spark looks for it among the class's own interfaces.
 */
abstract class EntityReason implements Serializable {
  private static final long serialVersionUID = 1L;
  private final boolean certificate;

  EntityReason(boolean certificate) {
    this.certificate = certificate;
  }

  public final String call(String value, String entityTypes, Boolean orgCheck) {
    String normalised = IdentifierChecks.normalize(value);
    EntityTypes types = EntityTypes.of(entityTypes);
    boolean org = Boolean.TRUE.equals(orgCheck);
    return certificate
        ? IdentifierChecks.certReason(normalised, types, org)
        : IdentifierChecks.usccReason(normalised, types, org);
  }
}
