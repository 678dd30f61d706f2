using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

/// <summary>
/// Reverse mode (<c>Grad</c>) and forward mode (<c>Jvp</c>) over recorded graphs.
/// With <c>createGraph</c> the results are recorded too, so they can be differentiated again:
/// a Hessian-vector product is <c>Grad(Sum(Grad(loss, w, createGraph: true) * v), w)</c>
/// (reverse-over-reverse) or <c>Jvp(Grad(loss, w, createGraph: true), w, v)</c> (forward-over-reverse).
/// </summary>
public static class Autograd
{
    /// <summary>
    /// Vector-Jacobian product: d&lt;output, gradOutput&gt;/d wrt for each variable in wrt
    /// (gradOutput defaults to 1 for a one-element output). Variables the output does not depend
    /// on get zero gradients. Gradient hooks of intermediate variables run as their gradient completes.
    /// </summary>
    public static Var<T>[] Grad<T>(Var<T> output, IReadOnlyList<Var<T>> wrt, Var<T>? gradOutput = null, bool createGraph = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Grad([output], wrt, gradOutput is null ? null : [gradOutput], createGraph);

    /// <summary>Vector-Jacobian product of several outputs at once: the sum over outputs of
    /// d&lt;output_i, gradOutputs_i&gt;/d wrt.</summary>
    public static Var<T>[] Grad<T>(IReadOnlyList<Var<T>> outputs, IReadOnlyList<Var<T>> wrt, IReadOnlyList<Var<T>>? gradOutputs = null, bool createGraph = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gradOutputs is not null && gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"Expected {outputs.Count} output gradients but got {gradOutputs.Count}.");
        var grads = new Dictionary<Var<T>, Var<T>>(ReferenceEqualityComparer.Instance);
        using var mode = createGraph ? GradMode.Enable() : GradMode.Disable();
        for (int i = 0; i < outputs.Count; i++)
        {
            var o = outputs[i];
            Var<T> seed;
            if (gradOutputs is null)
            {
                if (o.Length != 1)
                    throw new ArgumentException($"Grad of an output of shape {Shape.Format(o.Shape)} needs an explicit output gradient; only one-element outputs default to 1.");
                seed = Var<T>.Constant(Tensor<T>.Full(T.One, o.Value.ShapeArray));
            }
            else
            {
                seed = gradOutputs[i];
                Shape.CheckEqual(o.Shape, seed.Shape, $"Output gradient {i}");
            }
            Accumulate(grads, o, seed);
        }

        var wrtSet = new HashSet<Var<T>>(wrt, ReferenceEqualityComparer.Instance);
        var nodes = CollectNodes(outputs);
        // A node is needed when some wrt variable is upstream of it.
        var needed = new HashSet<Node<T>>(ReferenceEqualityComparer.Instance);
        foreach (var node in nodes.OrderBy(n => n.Sequence))
            foreach (var input in node.Inputs)
                if (wrtSet.Contains(input) || (input.Creator is { } c && needed.Contains(c))) { needed.Add(node); break; }

        foreach (var node in nodes.OrderByDescending(n => n.Sequence))
        {
            if (!needed.Contains(node)) continue;
            var output = node.Output;
            if (!grads.TryGetValue(output, out var g)) continue;
            if (!wrtSet.Contains(output)) grads.Remove(output);
            output.RunGradHooks(g);
            var needs = new bool[node.Inputs.Length];
            for (int i = 0; i < needs.Length; i++)
            {
                var input = node.Inputs[i];
                needs[i] = input.RequiresGrad && (wrtSet.Contains(input) || (input.Creator is { } c && needed.Contains(c)));
            }
            var inputGrads = node.Primitive.Vjp(node, g, needs);
            for (int i = 0; i < needs.Length; i++)
                if (needs[i] && inputGrads[i] is { } gi) Accumulate(grads, node.Inputs[i], gi);
        }

        var result = new Var<T>[wrt.Count];
        for (int i = 0; i < wrt.Count; i++)
        {
            if (grads.TryGetValue(wrt[i], out var g))
            {
                if (wrt[i].Creator is null) wrt[i].RunGradHooks(g);
                result[i] = g;
            }
            else result[i] = Var<T>.Constant(Tensor<T>.Zeros(wrt[i].Value.ShapeArray));
        }
        return result;
    }

    /// <summary>
    /// Jacobian-vector product: the directional derivative of each output along the tangents of
    /// wrt, propagated forward through the recorded graph (about the cost of one forward pass).
    /// Outputs that do not depend on wrt get zero tangents.
    /// </summary>
    public static Var<T>[] Jvp<T>(IReadOnlyList<Var<T>> outputs, IReadOnlyList<Var<T>> wrt, IReadOnlyList<Var<T>> tangents, bool createGraph = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (tangents.Count != wrt.Count)
            throw new ArgumentException($"Expected {wrt.Count} tangents (one per input) but got {tangents.Count}.");
        var tan = new Dictionary<Var<T>, Var<T>>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < wrt.Count; i++)
        {
            Shape.CheckEqual(wrt[i].Shape, tangents[i].Shape, $"Tangent {i}");
            tan[wrt[i]] = tangents[i];
        }
        using var mode = createGraph ? GradMode.Enable() : GradMode.Disable();
        foreach (var node in CollectNodes(outputs).OrderBy(n => n.Sequence))
        {
            Var<T>?[]? inputs = null;
            for (int i = 0; i < node.Inputs.Length; i++)
                if (tan.TryGetValue(node.Inputs[i], out var t)) (inputs ??= new Var<T>?[node.Inputs.Length])[i] = t;
            if (inputs is null || tan.ContainsKey(node.Output)) continue;
            tan[node.Output] = node.Primitive.Jvp(node, inputs);
        }
        var result = new Var<T>[outputs.Count];
        for (int i = 0; i < outputs.Count; i++)
            result[i] = tan.TryGetValue(outputs[i], out var t) ? t : Var<T>.Constant(Tensor<T>.Zeros(outputs[i].Value.ShapeArray));
        return result;
    }

    /// <summary>Single-output convenience form of <see cref="Jvp{T}(IReadOnlyList{Var{T}}, IReadOnlyList{Var{T}}, IReadOnlyList{Var{T}}, bool)"/>.</summary>
    public static Var<T> Jvp<T>(Var<T> output, IReadOnlyList<Var<T>> wrt, IReadOnlyList<Var<T>> tangents, bool createGraph = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Jvp([output], wrt, tangents, createGraph)[0];

    private static void Accumulate<T>(Dictionary<Var<T>, Var<T>> grads, Var<T> v, Var<T> g) where T : unmanaged, IFloatingPointIeee754<T>
        => grads[v] = grads.TryGetValue(v, out var existing) ? F.Add(existing, g) : g;

    private static List<Node<T>> CollectNodes<T>(IEnumerable<Var<T>> outputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var seen = new HashSet<Node<T>>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node<T>>();
        foreach (var o in outputs) if (o.Creator is { } c && seen.Add(c)) stack.Push(c);
        while (stack.Count > 0)
            foreach (var input in stack.Pop().Inputs)
                if (input.Creator is { } c && seen.Add(c)) stack.Push(c);
        return [.. seen];
    }
}
