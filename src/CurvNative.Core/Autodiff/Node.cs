namespace CurvNative.Autodiff;

/// <summary>
/// One application of a primitive in a recorded graph. Nodes are numbered in creation order,
/// which is a topological order, so passes sort by <see cref="Sequence"/> instead of searching.
/// </summary>
public sealed class Node<T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
{
    private static long _counter;

    internal Node(Primitive<T> primitive, Var<T>[] inputs)
    {
        Primitive = primitive;
        Inputs = inputs;
        Sequence = Interlocked.Increment(ref _counter);
    }

    public Primitive<T> Primitive { get; }
    public Var<T>[] Inputs { get; }
    public long Sequence { get; }

    /// <summary>The output variable; set once, right after the node is created.</summary>
    public Var<T> Output { get; internal set; } = null!;

    public override string ToString() => $"{Primitive.Name}#{Sequence}";
}

/// <summary>
/// A differentiable primitive. Both rules are written with differentiable operations on
/// <see cref="Var{T}"/>, so a gradient or a tangent is itself differentiable: that is what
/// makes Hessian-vector products (reverse-over-reverse, forward-over-reverse) work.
/// </summary>
public abstract class Primitive<T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
{
    public abstract string Name { get; }

    /// <summary>Vector-Jacobian product: the gradients for the inputs with needs[i] set, given
    /// the gradient g of the output (null entries mean zero).</summary>
    public abstract Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs);

    /// <summary>Jacobian-vector product: the output tangent given input tangents (null = zero,
    /// at least one is non-null).</summary>
    public abstract Var<T> Jvp(Node<T> node, Var<T>?[] tangents);
}
