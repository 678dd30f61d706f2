using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

/// <summary>
/// A value in a differentiable computation: a tensor plus, when it was computed from variables
/// that require gradients while recording was on, the node that produced it.
/// </summary>
public sealed class Var<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private List<Action<Var<T>>>? _gradHooks;

    private Var(Tensor<T> value, bool requiresGrad, Node<T>? creator)
    {
        Value = value;
        RequiresGrad = requiresGrad;
        Creator = creator;
    }

    public Tensor<T> Value { get; }

    /// <summary>True for leaves marked as differentiable and for every result computed from them.</summary>
    public bool RequiresGrad { get; }

    /// <summary>The node that produced this variable, or null for a leaf or a constant.</summary>
    public Node<T>? Creator { get; }

    /// <summary>An optional name (parameters carry theirs).</summary>
    public string? Name { get; init; }

    public ReadOnlySpan<int> Shape => Value.Shape;
    public int Rank => Value.Rank;
    public int Length => Value.Length;

    /// <summary>A leaf that gradients are taken with respect to.</summary>
    public static Var<T> Leaf(Tensor<T> value, string? name = null) => new(value, true, null) { Name = name };

    /// <summary>A constant: no gradient flows into it.</summary>
    public static Var<T> Constant(Tensor<T> value) => new(value, false, null);

    public static Var<T> Scalar(T value) => Constant(Tensor<T>.Scalar(value));

    /// <summary>Records the output of a primitive, linking it to its inputs when recording is on
    /// and some input requires gradients.</summary>
    internal static Var<T> Record(Primitive<T> primitive, Tensor<T> value, params Var<T>[] inputs)
    {
        if (!GradMode.IsEnabled) return Constant(value);
        bool any = false;
        foreach (var v in inputs) any |= v.RequiresGrad;
        if (!any) return Constant(value);
        var node = new Node<T>(primitive, inputs);
        var output = new Var<T>(value, true, node);
        node.Output = output;
        return output;
    }

    /// <summary>Adds a hook that receives this variable's gradient during backward passes
    /// (a layer's output-gradient hook, as KFAC needs).</summary>
    public void RegisterGradHook(Action<Var<T>> hook) => (_gradHooks ??= []).Add(hook);

    internal void RunGradHooks(Var<T> grad)
    {
        if (_gradHooks is null) return;
        foreach (var hook in _gradHooks) hook(grad);
    }

    /// <summary>A constant with the same value: cuts the graph here.</summary>
    public Var<T> Detach() => Constant(Value);

    public static Var<T> operator +(Var<T> a, Var<T> b) => F.Add(a, b);
    public static Var<T> operator -(Var<T> a, Var<T> b) => F.Sub(a, b);
    public static Var<T> operator *(Var<T> a, Var<T> b) => F.Mul(a, b);
    public static Var<T> operator /(Var<T> a, Var<T> b) => F.Div(a, b);
    public static Var<T> operator -(Var<T> a) => F.Scale(a, -T.One);
    public static Var<T> operator *(Var<T> a, T s) => F.Scale(a, s);
    public static Var<T> operator *(T s, Var<T> a) => F.Scale(a, s);
    public static Var<T> operator +(Var<T> a, T s) => F.AddScalar(a, s);
    public static Var<T> operator -(Var<T> a, T s) => F.AddScalar(a, -s);

    public override string ToString() => $"Var({Value}{(Creator is null ? "" : ", " + Creator)})";
}
