using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

/// <summary>
/// Reverse mode (<c>Grad</c>) and forward mode (<c>Jvp</c>) over recorded graphs.
/// With <c>createGraph</c> the results are recorded too, so they can be differentiated again:
/// a Hessian-vector product is <c>Grad(Sum(Grad(loss, w, createGraph: true) * v), w)</c>
/// (reverse-over-reverse) or <c>Jvp(Grad(loss, w, createGraph: true), w, v)</c> (forward-over-reverse).
/// <c>GradStacked</c> and <c>JvpStacked</c> apply K cotangents or tangents in one sweep (first order),
/// which is how the curvature operators batch the columns of a matrix product.
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
        var (order, needed) = ReverseSweep(outputs, wrtSet);
        foreach (var node in order)
        {
            var output = node.Output;
            if (!grads.TryGetValue(output, out var g)) continue;
            if (!wrtSet.Contains(output)) grads.Remove(output);
            output.RunGradHooks(g);
            var needs = Needs(node, wrtSet, needed);
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

    /// <summary>
    /// K vector-Jacobian products in one reverse sweep: <paramref name="gradOutputs"/>[i] is
    /// [K, ...shape of outputs[i]] and result j is [K, ...shape of wrt[j]], row c being
    /// d(sum_i &lt;outputs_i, gradOutputs_i[c]&gt;)/d wrt_j. First order only (nothing is recorded, grad hooks
    /// do not run); each primitive applies its stacked rule (<see cref="Primitive{T}.VjpStacked"/>), so a
    /// linear layer backpropagates all K cotangents with one GEMM of K N rows. Memory: K times a gradient's.
    /// </summary>
    public static Tensor<T>[] GradStacked<T>(IReadOnlyList<Var<T>> outputs, IReadOnlyList<Var<T>> wrt, IReadOnlyList<Tensor<T>> gradOutputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"Expected {outputs.Count} stacked output gradients but got {gradOutputs.Count}.");
        int k = StackSize(outputs, gradOutputs, "Output gradient");
        var grads = new Dictionary<Var<T>, Tensor<T>>(ReferenceEqualityComparer.Instance);
        using var mode = GradMode.Disable();
        for (int i = 0; i < outputs.Count; i++) AccumulateStacked(grads, outputs[i], gradOutputs[i], null);
        var wrtSet = new HashSet<Var<T>>(wrt, ReferenceEqualityComparer.Instance);
        var (order, needed) = ReverseSweep(outputs, wrtSet);
        var recycler = Recycler<T>.ForSweep(gradOutputs);
        var dead = recycler is null ? null : new List<Tensor<T>>();
        foreach (var node in order)
        {
            if (!grads.TryGetValue(node.Output, out var g)) continue;
            bool dies = !wrtSet.Contains(node.Output);
            if (dies) grads.Remove(node.Output);
            var needs = Needs(node, wrtSet, needed);
            // A dying cotangent nothing else holds becomes its one input's gradient, overwritten in place where the rule can.
            bool inPlace = dies && recycler is not null && needs.Length == 1 && needs[0]
                && recycler.Owns(g, grads.Values) && node.Primitive.TryVjpStackedInPlace(node, g);
            var inputGrads = inPlace ? [g] : node.Primitive.VjpStacked(node, g, needs);
            for (int i = 0; i < needs.Length; i++)
                if (needs[i] && inputGrads[i] is { } gi) AccumulateStacked(grads, node.Inputs[i], gi, dead);
            if (recycler is null) continue;
            if (dies && !inPlace) dead!.Add(g);
            // Returned only now, after all of the node's input gradients are accumulated: rules may return g
            // itself or views of it.
            foreach (var d in dead!) recycler.Release(d, grads.Values);
            dead.Clear();
        }
        var result = new Tensor<T>[wrt.Count];
        for (int i = 0; i < wrt.Count; i++)
            result[i] = grads.TryGetValue(wrt[i], out var g) ? g : Tensor<T>.Zeros(Stacked.Shape(k, wrt[i].Shape));
        return result;
    }

    /// <summary>Single-output form of <see cref="GradStacked{T}(IReadOnlyList{Var{T}}, IReadOnlyList{Var{T}}, IReadOnlyList{Tensor{T}})"/>.</summary>
    public static Tensor<T>[] GradStacked<T>(Var<T> output, IReadOnlyList<Var<T>> wrt, Tensor<T> gradOutput)
        where T : unmanaged, IFloatingPointIeee754<T>
        => GradStacked([output], wrt, [gradOutput]);

    /// <summary>
    /// K Jacobian-vector products in one forward sweep: <paramref name="tangents"/>[j] is [K, ...shape of
    /// wrt[j]] and result i is [K, ...shape of outputs[i]]. First order only; each primitive applies its
    /// stacked rule (<see cref="Primitive{T}.JvpStacked"/>). Outputs that do not depend on wrt get zeros.
    /// </summary>
    public static Tensor<T>[] JvpStacked<T>(IReadOnlyList<Var<T>> outputs, IReadOnlyList<Var<T>> wrt, IReadOnlyList<Tensor<T>> tangents)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (tangents.Count != wrt.Count)
            throw new ArgumentException($"Expected {wrt.Count} stacked tangents (one per input) but got {tangents.Count}.");
        int k = StackSize(wrt, tangents, "Tangent");
        var tan = new Dictionary<Var<T>, Tensor<T>>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < wrt.Count; i++) tan[wrt[i]] = tangents[i];
        using var mode = GradMode.Disable();
        var nodes = CollectNodes(outputs);
        nodes.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        // A tangent is dropped after its last consumer, so a sweep holds K tangents of the live frontier
        // of the graph, not of every node.
        var lastUse = new Dictionary<Var<T>, int>(ReferenceEqualityComparer.Instance);
        for (int n = 0; n < nodes.Count; n++)
            foreach (var input in nodes[n].Inputs) lastUse[input] = n;
        var keep = new HashSet<Var<T>>(outputs, ReferenceEqualityComparer.Instance);
        var recycler = Recycler<T>.ForSweep(tangents);
        for (int n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            Tensor<T>?[]? inputs = null;
            for (int i = 0; i < node.Inputs.Length; i++)
                if (tan.TryGetValue(node.Inputs[i], out var t)) (inputs ??= new Tensor<T>?[node.Inputs.Length])[i] = t;
            if (inputs is null || tan.ContainsKey(node.Output)) continue;
            tan[node.Output] = node.Primitive.JvpStacked(node, inputs);
            foreach (var input in node.Inputs)
                if (lastUse[input] == n && !keep.Contains(input) && tan.Remove(input, out var dead))
                    recycler?.Release(dead, tan.Values);
        }
        var result = new Tensor<T>[outputs.Count];
        for (int i = 0; i < outputs.Count; i++)
            result[i] = tan.TryGetValue(outputs[i], out var t) ? t : Tensor<T>.Zeros(Stacked.Shape(k, outputs[i].Shape));
        return result;
    }

    /// <summary>
    /// Inside a <see cref="TensorPool{T}"/> scope, the values a stacked sweep drops go back to the pool, except
    /// the caller's own stacks and any buffer a still pending value shares (rules may return an input's stack
    /// itself or a view of it). Outside a scope there is nothing to recycle.
    /// </summary>
    private sealed class Recycler<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly TensorPool<T> _pool;
        private readonly HashSet<T[]> _callers;

        private Recycler(TensorPool<T> pool, IEnumerable<Tensor<T>> callerStacks)
            => (_pool, _callers) = (pool, new HashSet<T[]>(callerStacks.Select(t => t.Buffer), ReferenceEqualityComparer.Instance));

        public static Recycler<T>? ForSweep(IEnumerable<Tensor<T>> callerStacks)
            => TensorPool<T>.Current is { } pool ? new Recycler<T>(pool, callerStacks) : null;

        public void Release(Tensor<T> dead, IEnumerable<Tensor<T>> pending)
        {
            if (Owns(dead, pending)) _pool.Return(dead);
        }

        /// <summary>Whether the sweep alone holds t's buffer: born in the pool's scope, not a caller's stack, and not
        /// shared by a pending value. Such a buffer may go back to the pool, or be overwritten.</summary>
        public bool Owns(Tensor<T> t, IEnumerable<Tensor<T>> pending)
            => _pool.Owns(t.Buffer) && !_callers.Contains(t.Buffer) && !pending.Any(p => ReferenceEquals(p.Buffer, t.Buffer));
    }

    /// <summary>K shared by all stacks, each checked to be [K, ...shape of its variable].</summary>
    private static int StackSize<T>(IReadOnlyList<Var<T>> vars, IReadOnlyList<Tensor<T>> stacks, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = -1;
        for (int i = 0; i < vars.Count; i++)
        {
            var s = stacks[i];
            if (s.Rank != vars[i].Rank + 1 || !s.Shape[1..].SequenceEqual(vars[i].Shape) || (k >= 0 && s.Shape[0] != k))
                throw new ArgumentException($"{what} {i}: expected a stack [K, {string.Join(", ", vars[i].Value.ShapeArray)}]{(k >= 0 ? $" with K = {k}" : "")}, got {Shape.Format(s.Shape)}.");
            k = s.Shape[0];
        }
        return Math.Max(k, 0);
    }

    /// <summary>The nodes a reverse sweep visits (those with some wrt variable upstream), latest first.</summary>
    private static (List<Node<T>> Order, HashSet<Node<T>> Needed) ReverseSweep<T>(IReadOnlyList<Var<T>> outputs, HashSet<Var<T>> wrtSet)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var nodes = CollectNodes(outputs);
        nodes.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        var needed = new HashSet<Node<T>>(ReferenceEqualityComparer.Instance);
        foreach (var node in nodes)
            foreach (var input in node.Inputs)
                if (wrtSet.Contains(input) || (input.Creator is { } c && needed.Contains(c))) { needed.Add(node); break; }
        var order = nodes.Where(needed.Contains).ToList();
        order.Reverse();
        return (order, needed);
    }

    /// <summary>Which inputs of a node a reverse sweep must differentiate.</summary>
    private static bool[] Needs<T>(Node<T> node, HashSet<Var<T>> wrtSet, HashSet<Node<T>> needed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var needs = new bool[node.Inputs.Length];
        for (int i = 0; i < needs.Length; i++)
        {
            var input = node.Inputs[i];
            needs[i] = input.RequiresGrad && (wrtSet.Contains(input) || (input.Creator is { } c && needed.Contains(c)));
        }
        return needs;
    }

    /// <summary>Adds g to v's cotangent; the two summands, dead once summed, go to <paramref name="dead"/>.</summary>
    private static void AccumulateStacked<T>(Dictionary<Var<T>, Tensor<T>> grads, Var<T> v, Tensor<T> g, List<Tensor<T>>? dead) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!grads.TryGetValue(v, out var existing)) { grads[v] = g; return; }
        grads[v] = TensorOps.Binary(existing, g, TensorOps.BinaryKind.Add);
        dead?.Add(existing);
        dead?.Add(g);
    }

    private static void Accumulate<T>(Dictionary<Var<T>, Var<T>> grads, Var<T> v, Var<T> g) where T : unmanaged, IFloatingPointIeee754<T>
        => grads[v] = grads.TryGetValue(v, out var existing) ? F.Add(existing, g) : g;

    internal static List<Node<T>> CollectNodes<T>(IEnumerable<Var<T>> outputs) where T : unmanaged, IFloatingPointIeee754<T>
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
