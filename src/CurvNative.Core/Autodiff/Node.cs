using CurvNative.Autodiff.Taylor;
using CurvNative.Tensors;

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

/// <summary>A primitive on a Taylor sweep's path that has no Taylor-mode rule: a clear error instead of a silent zero.</summary>
public sealed class MissingTaylorRuleException(string primitive)
    : NotSupportedException($"Primitive '{primitive}' has no Taylor-mode rule, so PDE operators cannot propagate through it.")
{
    /// <summary>The name of the primitive without a rule.</summary>
    public string Primitive { get; } = primitive;
}

/// <summary>
/// A differentiable primitive. Both rules are written with differentiable operations on
/// <see cref="Var{T}"/>, so a gradient or a tangent is itself differentiable: that is what
/// makes Hessian-vector products (reverse-over-reverse, forward-over-reverse) work.
/// The set is open: a subclass recorded with <see cref="F.Apply{T}"/> joins the engine (reverse, forward and, with
/// <see cref="Taylor"/>, Taylor mode).
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

    /// <summary>
    /// Taylor mode: the output's jet given the inputs' jets (null for an input that does not depend on the sweep's
    /// input, whose value <c>node.Inputs[i]</c> is then a constant of the sweep). The jet's value must be
    /// <c>node.Output</c>; coefficients are built with differentiable operations, usually through
    /// <see cref="TaylorRules"/>. The default throws <see cref="MissingTaylorRuleException"/> naming the primitive.
    /// </summary>
    public virtual Jet<T> Taylor(Node<T> node, Jet<T>?[] inputs) => throw new MissingTaylorRuleException(Name);

    /// <summary>
    /// <see cref="Vjp"/> for K cotangents at once (first order, nothing recorded): <paramref name="g"/> is
    /// [K, ...output shape] and each gradient returned is [K, ...input shape]. The VJP is linear in g, so
    /// the default applies <see cref="Vjp"/> to one cotangent at a time; primitives on hot paths override
    /// it with one wide operation (a GEMM over K N rows instead of K GEMMs over N).
    /// </summary>
    public virtual Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
    {
        int k = g.Shape[0];
        var result = new Tensor<T>?[node.Inputs.Length];
        var items = new Var<T>?[k][];
        for (int c = 0; c < k; c++) items[c] = Vjp(node, Var<T>.Constant(Stacked.Item(g, c)), needs);
        for (int i = 0; i < result.Length; i++)
        {
            if (!needs[i]) continue;
            var shape = node.Inputs[i].Value.ShapeArray;
            result[i] = Stacked.FromItems(k, shape, c => items[c][i]?.Value ?? Tensor<T>.Zeros(shape));
        }
        return result;
    }

    /// <summary>
    /// For a one-input elementwise primitive: overwrites <paramref name="g"/> [K, ...shape] with the input's stacked
    /// gradient and returns true; false (g untouched) where the primitive cannot. The sweep calls it only for a
    /// cotangent nothing else holds (see Autograd's Recycler), so that a ReLU or tanh backward in a pooled sweep
    /// neither allocates nor touches a second buffer.
    /// </summary>
    internal virtual bool TryVjpStackedInPlace(Node<T> node, Tensor<T> g) => false;

    /// <summary>
    /// <see cref="Jvp"/> for K tangents at once (first order, nothing recorded): each non-null tangent is
    /// [K, ...input shape] and the result is [K, ...output shape]. The default applies <see cref="Jvp"/>
    /// to one tangent at a time.
    /// </summary>
    public virtual Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] tangents)
    {
        int k = tangents.First(t => t is not null)!.Shape[0];
        return Stacked.FromItems(k, node.Output.Shape, c =>
            Jvp(node, tangents.Select(t => t is null ? null : Var<T>.Constant(Stacked.Item(t, c))).ToArray()).Value);
    }
}
