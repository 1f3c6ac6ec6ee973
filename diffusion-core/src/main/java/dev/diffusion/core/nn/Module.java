package dev.diffusion.core.nn;

/**
 * A node of a network's module tree. It knows its weight-key prefix, so a layer asks for
 * {@code weight}/{@code bias} under its own name and a checkpoint key maps to one object
 * (STYLE.md §1: the module tree is the weight-key tree).
 */
public abstract class Module {
    protected final Nn nn;
    protected final String prefix;

    protected Module(Nn nn, String prefix) {
        this.nn = nn;
        this.prefix = prefix;
    }

    /** The full key of a child or tensor of this module: {@code prefix + "." + name}. */
    protected String key(String name) {
        return prefix.isEmpty() ? name : prefix + "." + name;
    }

    public String prefix() {
        return prefix;
    }
}
